"""Property-based: random malformed lines and bytes in any input file of any converter, or in an
atomic file RecBole is about to read, give the project's own error naming the file, and leave
no output behind."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recbole_unisrec.data.convert import SHARED_SOURCES, convert_shared
from recbole_unisrec.data.layout import ensure_unpacked
from recbole_unisrec.fileio import DataFormatError

from samples import SAMPLES, write_sample

garbage = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.binary(max_size=40),
    st.sampled_from(["\t", "\t\t\t\t", "x\ty", "1 2\t", "{", "{\"item_id\": }", "\x00", "abc::"]),
)


@st.composite
def corruption(draw):
    name = draw(st.sampled_from(sorted(SAMPLES)))
    file_name = draw(st.sampled_from(sorted(SAMPLES[name])))
    lines = SAMPLES[name][file_name].encode("utf-8").split(b"\n")
    position = draw(st.integers(0, len(lines)))
    bad = draw(garbage)
    bad = bad if isinstance(bad, bytes) else bad.encode("utf-8")
    replace = draw(st.booleans()) and position < len(lines)
    lines[position:position + int(replace)] = [bad]
    return name, file_name, b"\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruption())
def test_converters_fail_with_file_named_and_nothing_written(case) -> None:
    name, file_name, content = case
    work = Path(tempfile.mkdtemp())
    try:
        write_sample(work / "shared", name, {file_name: content})
        out = work / "out"
        try:
            convert_shared(name, work / "shared", out)
        except DataFormatError as error:
            assert SHARED_SOURCES[name][0] in str(error) or name in str(error)
            assert not out.exists() or list(out.iterdir()) == []
        else:
            assert sorted(p.name for p in (out / name).iterdir()) == sorted(
                f"{name}.{s}" for s in ("train.inter", "valid.inter", "test.inter", "text", "item2index", "user2index"))
    finally:
        shutil.rmtree(work)


@st.composite
def inter_corruption(draw):
    split = draw(st.sampled_from(["train", "valid", "test"]))
    lines = ["user_id:token\titem_id_list:token_seq\titem_id:token", "0\t0 1\t2", "1\t3\t4", "1\t3 4\t5"]
    position = draw(st.integers(0, len(lines)))
    bad = draw(st.one_of(st.sampled_from(["0\t1", "0\t1\t2\t3", "\t1\t2", "0\t\t2", "0\t1  2\t3", "0\t1\t", "a\tb c"]),
                         st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s)))
    lines.insert(position, bad)
    return split, "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(inter_corruption())
def test_atomic_file_reader_names_file_and_line(case) -> None:
    split, content = case
    work = Path(tempfile.mkdtemp())
    try:
        folder = work / "Tiny"
        folder.mkdir()
        good = "user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0\t1\n"
        for name in ("train", "valid", "test"):
            (folder / f"Tiny.{name}.inter").write_text(content if name == split else good, encoding="utf-8")
        try:
            ensure_unpacked(folder, "Tiny")
        except DataFormatError as error:
            assert f"Tiny.{split}.inter:" in str(error)
            assert error.line is not None
    finally:
        shutil.rmtree(work)
