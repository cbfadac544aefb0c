"""The output table is built and written without pandas, exactly as pandas would write it."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ser.annotate import annotate_to_file
from ser.annotate.compare import compare_ravdess
from ser.annotate.output import write_table
from ser.annotate.table import RowStore
from ser.annotate.worker import FileResult

CLASSES = ["angry", "calm", "sad"]
PATHS = [
    "Actor_01/03-01-05-01-01-01-01.wav",  # angry
    "Actor_01/03-01-02-02-01-01-01.wav",  # calm
    'odd, "quoted"\nname.wav',  # CSV quoting
    "Actor_02/03-01-04-01-02-02-02.wav",  # sad
    "Actor_02/03-01-08-01-01-01-02.wav",  # surprised: not a class of the model
    "naïve/日本語.flac",
    "broken/03-01-05-01-01-01-09.wav",  # a RAVDESS name, but an error row
]
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [1 / 3 + 1e-16, 1 / 3, 1 / 3 - 1e-16],  # calm predicted as angry
        [5e-324, 1.0 - 2**-52, 2.2250738585072014e-308],  # denormal, tiny, close to 1
        [0.1, 0.1, 0.8],
        [0.25, 0.5, 0.25],
        [1e-300, 0.999999999999, 1e-12],
    ]
)


def _store(n_ok: int = 6) -> RowStore:
    speakers = ["01", "01", None, "02", "02", None, None]
    store = RowStore(list(PATHS), speakers, CLASSES)
    for i in range(n_ok):
        store.set_result(FileResult(i, "ok", None, 1.5 + i / 7, [48_000, 16_000][i % 2], 1 + i % 2))
    store.set_predictions(list(range(n_ok)), PROBS[:n_ok], ["speaker"] * 4 + ["training"] * 2)
    store.set_result(FileResult(6, "error", 'cannot decode audio: "x", or corrupt'))
    return store


@pytest.mark.parametrize("compare", [False, True])
def test_csv_is_byte_identical_to_pandas_to_csv(tmp_path, compare):
    store = _store()
    out = tmp_path / "t.csv"
    write_table(store.to_arrow(compare=compare), out, overwrite=False)
    expected = store.to_frame(compare=compare).to_csv(index=False, lineterminator="\n")
    assert out.read_text(encoding="utf-8") == expected


@pytest.mark.parametrize("compare", [False, True])
def test_parquet_schema_and_pandas_metadata_are_those_of_from_pandas(tmp_path, compare):
    store = _store()
    table = store.to_arrow(compare=compare, metadata={"ser.x": '"y"'})
    frame = store.to_frame(compare=compare)
    reference = pa.Table.from_pandas(frame, preserve_index=False)
    assert table.schema.equals(reference.schema, check_metadata=False)
    assert json.loads(table.schema.metadata[b"pandas"]) == json.loads(
        reference.schema.metadata[b"pandas"]
    )
    out = tmp_path / "t.parquet"
    write_table(table, out, overwrite=False)
    back = pd.read_parquet(out)
    pdt.assert_frame_equal(back, frame, check_exact=True)
    assert pq.read_schema(out).metadata[b"ser.x"] == b'"y"'
    dtypes = {str(t) for t in back.dtypes}
    assert dtypes == ({"string", "float64", "Int32", "boolean"} if compare else
                      {"string", "float64", "Int32"})  # fmt: skip
    assert back["error"].isna().sum() == len(PATHS) - 1 and back["sample_rate"].isna().sum() == 1
    assert back["confidence"].isna().tolist() == [False] * 6 + [True]


def test_compare_gives_the_same_on_arrow_and_pandas_tables():
    store = _store()
    table = store.to_arrow(compare=True)
    a = compare_ravdess(table, training_actors=[2])
    b = compare_ravdess(store.to_frame(compare=True), training_actors=[2])
    assert a.scores is not None and b.scores is not None
    assert a.scores.to_dict() == b.scores.to_dict()
    assert replace(a, scores=None, reliability=()) == replace(b, scores=None, reliability=())
    assert [(r.count, r.confidence) for r in a.reliability if r.count] == [
        (r.count, r.confidence) for r in b.reliability if r.count
    ]
    assert a.ece is not None and 0 <= a.ece <= 1
    assert (a.n_files, a.n_unlabelled, a.n_errors, a.n_unknown_class) == (7, 2, 1, 1)
    assert a.unknown_emotions == ("surprised",) and a.n_seen_in_training == 1
    assert a.scores is not None and a.scores.n == 3 and a.scores.accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_writing_a_table_imports_neither_pandas_nor_scikit_learn(
    tmp_path, write_audio, ext, imported_by
):
    write_audio(tmp_path / "c" / "a.wav")
    code = (
        "from ser.annotate import annotate_to_file\n"
        f"annotate_to_file({str(tmp_path / 'c')!r}, out={str(tmp_path / ('t.' + ext))!r}, "
        "jobs=1, compare='ravdess')\n"
    )
    assert imported_by(code, ["pandas", "sklearn", "skops"]) == []
    assert len(pd.read_parquet(tmp_path / "t.parquet") if ext == "parquet" else
               pd.read_csv(tmp_path / "t.csv")) == 1  # fmt: skip


def test_a_file_name_that_is_not_utf8_is_annotated_and_written_escaped(tmp_path, write_audio):
    latin1 = os.path.join(os.fsencode(tmp_path / "c"), b"caf\xe9.wav")  # a surrogate in Python
    try:
        os.rename(write_audio(tmp_path / "c" / "x.wav"), latin1)
    except OSError as exc:  # pragma: no cover - file systems that refuse such names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    write_audio(tmp_path / "c" / "plain.wav", seed=1)
    for ext in ("parquet", "csv"):
        out = tmp_path / f"t.{ext}"
        summary = annotate_to_file(tmp_path / "c", out=out, jobs=1, model="ser4")
        assert (summary.n_ok, summary.n_errors) == (2, 0)
        table = pd.read_parquet(out) if ext == "parquet" else pd.read_csv(out)
        assert table["path"].tolist() == ["caf\\xe9.wav", "plain.wav"]
