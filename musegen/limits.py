"""Budgets: the largest (and smallest) sizes musegen accepts from a file or an option.

A few bytes of input can ask for gigabytes: a MIDI note of 2**28 ticks, a WAV
header that says 1 Hz, a compressed ``.npz`` of zeros.  Readers compare the
size an input asks for with these budgets *before* allocating anything and
refuse with the figure in one line.  Each budget keeps one conversion well
under 3 GB of memory and a minute of work.  This module imports nothing.
"""

from __future__ import annotations

# piano-roll columns (time steps): a roll is two 128 x T matrices, and turning it into notes, MIDI or a
# picture takes a few more of them (about 1 GB at this size), 70 hours of music at 4 steps a beat
MAX_ROLL_STEPS = 1_000_000

# mono samples of audio in memory (after resampling, or rendered by the synthesizer): the synth and the
# frame transform need about 28 bytes a sample (under 2 GB at this size); 25 minutes at 44.1 kHz, 70 at 16 kHz
MAX_AUDIO_SAMPLES = 64 * 2**20

# sample rates (Hz) of an audio file read: below 1 kHz a file holds no music worth resampling (1 Hz asks for
# 16,000 output samples per input sample); 768 kHz is the fastest rate of studio converters
MIN_FILE_RATE = 1000
MAX_FILE_RATE = 768_000

# sample rates (Hz) musegen writes or computes at (--sample-rate): telephone quality to studio masters
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192_000

# tempos (quarter notes a minute) a song or a roll may hold: the slowest and fastest a MIDI set_tempo
# message can store (16,777,215 and 1 microseconds a beat), so every tempo read can be written back
MIN_BPM = 60e6 / 0xFFFFFF
MAX_BPM = 60e6

# seconds of one audio frame (--frame-seconds): one FFT; a minute is already far longer than any model uses
MAX_FRAME_SECONDS = 60.0

# measures and notes of one melody read from MIDI (-> MusicXML, ABC, sheet music): music21 writes about
# 2,000 measures of 4 notes, or 16,000 notes, in 15 s, and slows as a score grows; a long symphonic movement
# has under 1,000 measures
MAX_MEASURES = 4_000
MAX_MELODY_NOTES = 20_000

# characters of one ABC tune: the player reads about 30,000 a second, so this is a few seconds; the longest
# Nottingham tune has about 3,000 (a 1 MB line took 34 s and 1.2 GB)
MAX_TUNE_CHARS = 100_000

# parts a header P: order plays (P:A200000000 asked for 3 GB): a long medley plays a few dozen
MAX_PARTS_PLAYED = 1_000

# what a sampling run starts from or makes for evaluation: a primer is a start (a phrase or two), and each of
# its steps is run through the network before anything is generated; evaluate's samples are compared with the
# corpus's pieces, minutes long at most
MAX_PRIMER_BEATS = 1024.0  # --primer-beats: 8 minutes at 120 bpm
MAX_PRIMER_SECONDS = 120.0  # --primer-seconds
MAX_PRIMER_MEASURES = 256  # --primer-measures
MAX_EVALUATE_BEATS = 4096.0  # evaluate midi --beats: 34 minutes at 120 bpm
MAX_EVALUATE_SECONDS = 600.0  # evaluate audio --seconds
