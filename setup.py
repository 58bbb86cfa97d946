"""Build hook: the shipped models and corpora travel in the wheel as package data.

The repository keeps them at its root (``models/``, ``corpora/``), their
single source; building the package copies them under ``musegen/data/``,
where :func:`musegen.paths.shipped_dir` finds them once installed.  Only the
bundles named in ``models/SHIPPED.txt`` travel (a model trained in the
checkout does not), and each without its optimizer state
(``training_state.npz``, only ``--resume`` reads it) or hidden files.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
LEFT_OUT = shutil.ignore_patterns(".*", "training_state.npz", "__pycache__")


class BuildWithShippedData(build_py):
    def run(self) -> None:
        super().run()
        data = Path(self.build_lib) / "musegen" / "data"
        shutil.rmtree(data, ignore_errors=True)  # an earlier build's files never travel
        bundles = (ROOT / "models" / "SHIPPED.txt").read_text().split()
        for name in bundles:
            shutil.copytree(ROOT / "models" / name, data / "models" / name, ignore=LEFT_OUT)
        shutil.copytree(ROOT / "corpora", data / "corpora", ignore=LEFT_OUT)


setup(cmdclass={"build_py": BuildWithShippedData})
