"""UniSRec (Hou et al., KDD 2022) as a RecBole plugin."""
from recbole_unisrec import compat

compat.apply()

__version__ = "0.1.0"
