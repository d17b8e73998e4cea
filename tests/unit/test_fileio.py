"""recbole_unisrec.fileio: names of a file's companions."""
from pathlib import Path

from recbole_unisrec.fileio import beside


def test_beside_appends_to_a_dotted_name_instead_of_replacing_its_tail():
    out = Path("results") / "Office-es-trans-default-hd0.2"
    assert beside(out, ".md") == Path("results/Office-es-trans-default-hd0.2.md")
    assert beside(str(out), ".runs.csv") == Path("results/Office-es-trans-default-hd0.2.runs.csv")
    assert beside(Path("dataset/S/S.train.inter"), ".gz") == Path("dataset/S/S.train.inter.gz")
