"""A tiny data set with one popular target, and training a UniSRec on it (helpers for the fixtures).

Items come in five topics. Every astronomy user buys some astronomy items, then the popular
target (``POPULAR``), then more astronomy items; users of the other topics stay in their topic.
A few epochs on CPU are enough for the model to put ``POPULAR`` near the top after an
astronomy history.
"""
from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

from recbole_unisrec.data.convert.common import SequenceData

NAME = "Tiny"
POPULAR = "A-POP"

TOPICS = {
    "A": ["Refractor telescope 70mm aperture with tripod. Astronomy telescopes.",
          "Dobsonian reflector telescope 8 inch. Astronomy telescopes.",
          "Star chart planisphere for the northern sky. Astronomy accessories.",
          "Moon filter 1.25 inch for telescope eyepieces. Astronomy accessories.",
          "Red dot finder scope for telescopes. Astronomy accessories.",
          "Barlow lens 2x 1.25 inch for telescopes. Astronomy accessories.",
          "Solar filter film sheet for safe sun viewing. Astronomy accessories.",
          "Equatorial telescope mount with counterweight. Astronomy mounts.",
          "Telescope dew heater strap with controller. Astronomy accessories.",
          "Astronomy binoculars 15x70 for stargazing. Astronomy binoculars."],
    "C": ["Borosilicate glass beaker set 50 to 1000 ml. Lab glassware.",
          "Erlenmeyer conical flask 250 ml. Lab glassware.",
          "Graduated cylinder 100 ml glass. Lab glassware.",
          "Volumetric pipette 10 ml class A. Lab glassware.",
          "Test tube rack for 40 tubes polypropylene. Lab supplies.",
          "Magnetic stirrer with hot plate. Lab equipment.",
          "Digital pH meter with calibration buffers. Lab equipment.",
          "Round bottom boiling flask 500 ml. Lab glassware.",
          "Separatory funnel 250 ml with stopcock. Lab glassware.",
          "Bunsen burner natural gas with flame stabiliser. Lab equipment."],
    "P": ["PLA filament 1.75mm 1kg spool white. 3D printing filament.",
          "PETG filament 1.75mm 1kg spool black. 3D printing filament.",
          "Brass nozzle set 0.4mm for 3D printers. 3D printer parts.",
          "Heated bed glass plate 235mm for 3D printers. 3D printer parts.",
          "Stepper motor NEMA 17 for 3D printers. 3D printer parts.",
          "TPU flexible filament 1.75mm 500g. 3D printing filament.",
          "Build surface PEI sheet magnetic for 3D printers. 3D printer parts.",
          "Extruder gear kit dual drive for 3D printers. 3D printer parts.",
          "Filament dryer box for 3D printing spools. 3D printing accessories.",
          "Wood PLA filament 1.75mm 1kg. 3D printing filament."],
    "M": ["Compound microscope 40x to 1000x with LED. Microscopes.",
          "Prepared microscope slides biology set of 50. Microscope slides.",
          "Blank glass microscope slides and cover slips. Microscope slides.",
          "Microscope camera USB 5MP eyepiece. Microscope accessories.",
          "Stereo dissecting microscope 20x 40x. Microscopes.",
          "Immersion oil for microscopes 30 ml. Microscope accessories.",
          "Petri dishes sterile plastic 100 pack. Lab supplies.",
          "Lens cleaning paper for microscopes. Microscope accessories.",
          "Slide staining kit with methylene blue. Microscope slides.",
          "Digital microscope handheld 1000x. Microscopes."],
    "S": ["Nitrile gloves powder free box of 100. Safety equipment.",
          "Safety goggles anti fog chemical splash. Safety equipment.",
          "Lab coat white cotton unisex. Safety clothing.",
          "Face shield with adjustable headband. Safety equipment.",
          "Respirator half mask with filters. Safety equipment.",
          "Ear muffs hearing protection. Safety equipment.",
          "First aid kit for laboratories. Safety equipment.",
          "Chemical resistant apron. Safety clothing.",
          "Eye wash station bottle 500 ml. Safety equipment.",
          "Heat resistant gloves for lab work. Safety equipment."],
}
POPULAR_TEXT = "Plossl telescope eyepiece 25mm 1.25 inch for stargazing. Astronomy eyepieces."


def fixture_data(seed: int = 7) -> tuple[SequenceData, list[list[str]]]:
    """The data set, and the histories (raw ids) that led to ``POPULAR``."""
    rng = random.Random(seed)
    texts = {f"{topic}-{i}": text for topic, items in TOPICS.items() for i, text in enumerate(items)}
    texts[POPULAR] = POPULAR_TEXT
    sequences, led_to_popular = [], []
    user = 0
    for _ in range(60):
        for topic in TOPICS:
            items = [f"{topic}-{i}" for i in range(len(TOPICS[topic]))]
            rng.shuffle(items)
            if topic == "A":
                before = rng.randint(1, 4)
                seq = items[:before] + [POPULAR] + items[before:before + rng.randint(2, 3)]
                led_to_popular.append(seq[:before])
            else:
                seq = items[: rng.randint(3, 7)]
            sequences.append((f"u{user}", seq))
            user += 1
    return SequenceData(NAME, sequences, texts, text_source="fixture"), led_to_popular


@contextlib.contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def train_tiny(root: Path, train_stage: str, epochs: int = 8) -> str:
    from recbole_unisrec.quick_start import run

    with _chdir(root):  # RecBole writes log/ and log_tensorboard/ into the working directory
        result = run("UniSRec", NAME, config_dict={
            "data_path": str(root), "checkpoint_dir": str(root / f"saved-{train_stage}"), "epochs": epochs,
            "train_stage": train_stage, "hidden_size": 64, "inner_size": 64, "n_layers": 1, "n_heads": 2,
            "MAX_ITEM_LIST_LENGTH": 20, "train_batch_size": 512, "eval_batch_size": 512, "show_progress": False,
            "learning_rate": 0.003, "stopping_step": 100, "seed": 2022, "log_wandb": False, "state": "WARNING",
        })
    return result["checkpoint"]
