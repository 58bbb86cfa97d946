"""Build hook: the shipped models and corpora travel in the wheel as package data.

The repository keeps them at its root (``models/``, ``corpora/``), their
single source; building the package copies them under ``musegen/data/``,
where :func:`musegen.paths.shipped_dir` finds them once installed.  Each
bundle's optimizer state (``training_state.npz``, only ``--resume`` reads it)
and hidden files stay out.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("models", "corpora")
LEFT_OUT = shutil.ignore_patterns(".*", "training_state.npz", "__pycache__")


class BuildWithShippedData(build_py):
    def run(self) -> None:
        super().run()
        data = Path(self.build_lib) / "musegen" / "data"
        for name in SHIPPED:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, data / name, ignore=LEFT_OUT, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithShippedData})
