"""LanceDB's full-text search finds Chinese and Japanese words as OpenSearch does, and leaves English as it was.

OpenSearch's standard tokenizer makes each Han ideograph and each Hiragana character a token of its own (Katakana
runs and Hangul words stay whole); LanceDB's "simple" tokenizer splits only at whitespace and punctuation, so a
sentence written without spaces was one token that no word inside it matched.
"""

from __future__ import annotations

from pathlib import Path

import lancedb
import numpy as np
import pytest
from lancedb.index import FTS

from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from llmops.domain.models import Chunk, SearchFilters
from tests.fakes import chunk_of
from tests.lancedb_history import before_fts_text_schema

CJK = {
    "zh-refunds": ("我们的退货政策允许顾客在三十天内申请退款。", ["zh"]),
    "zh-receipts": ("退货时请出示购物收据。", ["zh"]),
    "ja-tower": ("東京タワーは東京都港区にある電波塔です。", ["ja"]),
    "ja-leave": ("有給休暇は入社六か月後に付与されます。", ["ja"]),
}
ENGLISH = {
    "install": "How do I install Python packages? Use pip install, or python -m pip install for one interpreter.",
    "venv": "Installing packages into a virtual environment keeps the system's Python clean.",
    "gc": "The garbage collector frees memory that is no longer referenced by any object.",
    "floats": "Why are floating-point calculations inaccurate? Floats are stored in binary fractions.",
    "windows": "Running scripts on Windows: the py launcher runs the installed Python interpreters.",
    "wheels": "Packaging tools build wheels; pip installs wheels and source distributions (sdists).",
    # A token of 40 bytes or more is not indexed: this one counts for nothing in its row's length.
    "hashes": "Pin each wheel by its hash: sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.",
}
ENGLISH_TAGGED = {"install", "wheels", "gc"}
# Computed with the code as it was before full-text search read `fts_text` (the same whether or not the rows had
# been folded into the index): English must rank and score exactly as it did.
ENGLISH_EXPECTED = {
    "installing python packages": [
        ("install", 2.6304707527160645),
        ("venv", 2.2760660648345947),
        ("windows", 1.3642065525054932),
        ("wheels", 1.302685260772705),
    ],
    "running the interpreters": [("windows", 3.390411615371704), ("install", 1.0340888500213623)],
    "memory of objects": [("gc", 3.4190738201141357)],
    "pin a wheel by hash": [("hashes", 5.7462334632873535), ("wheels", 1.519647479057312)],
}
ENGLISH_FILTERED_EXPECTED = {  # k = 2, tags = ["faq"]
    "installing python packages": [("install", 2.6304707527160645), ("wheels", 1.302685260772705)],
    "running the interpreters": [("install", 1.0340888500213623)],
    "memory of objects": [("gc", 3.4190738201141357)],
    "pin a wheel by hash": [("wheels", 1.519647479057312)],
}


def _english_chunks() -> list[Chunk]:
    return [chunk_of(doc, text, tags=["faq"] if doc in ENGLISH_TAGGED else []) for doc, text in ENGLISH.items()]


def _cjk_chunks() -> list[Chunk]:
    return [chunk_of(doc, text, tags=tags) for doc, (text, tags) in CJK.items()]


def _indexed(folder: Path, chunks: list[Chunk], optimize: bool = False) -> LanceDbVectorIndex:
    index = LanceDbVectorIndex(folder)
    index.ensure_index(2)
    index.add_chunks(chunks, np.ones((len(chunks), 2), dtype=np.float32))
    if optimize:
        index.optimize()
    return index


def _ranked(index: LanceDbVectorIndex, query: str, k: int = 10, filters: SearchFilters | None = None) -> list[str]:
    return [match.chunk.document_id for match in index.text_search(query, k, filters)]


def _scored(
    index: LanceDbVectorIndex, query: str, k: int = 10, filters: SearchFilters | None = None
) -> list[tuple[str, float]]:
    return [(match.chunk.document_id, match.score) for match in index.text_search(query, k, filters)]


def _assert_english_unchanged(
    index: LanceDbVectorIndex,
    unfiltered: dict[str, list[tuple[str, float]]] = ENGLISH_EXPECTED,
    filtered: dict[str, list[tuple[str, float]]] = ENGLISH_FILTERED_EXPECTED,
) -> None:
    for query, expected in unfiltered.items():
        found = _scored(index, query)
        assert [doc for doc, _ in found] == [doc for doc, _ in expected], query
        assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-6), query
    for query, expected in filtered.items():
        found = _scored(index, query, 2, SearchFilters(tags=["faq"]))
        assert [doc for doc, _ in found] == [doc for doc, _ in expected], query
        assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-6), query


@pytest.mark.parametrize("optimize", [False, True], ids=["rows scanned", "rows indexed"])
def test_a_chinese_document_is_found_by_a_word_inside_it(tmp_path: Path, optimize: bool) -> None:
    index = _indexed(tmp_path, _cjk_chunks() + _english_chunks(), optimize)

    found = index.text_search("退款", 10)  # "refund"; a match query: any of its characters, both rank highest

    assert [match.chunk.document_id for match in found][:2] == ["zh-refunds", "zh-receipts"]
    assert found[0].chunk.text == CJK["zh-refunds"][0]  # returned as written, not as indexed
    assert _ranked(index, "顾客") == ["zh-refunds"]  # "customer"


def test_a_japanese_document_is_found_by_a_word_inside_it(tmp_path: Path) -> None:
    index = _indexed(tmp_path, _cjk_chunks() + _english_chunks())

    assert _ranked(index, "電波塔") == ["ja-tower"]  # Han: each ideograph a token
    assert _ranked(index, "有給休暇")[0] == "ja-leave"
    assert _ranked(index, "され") == ["ja-leave"]  # Hiragana: each character a token
    assert _ranked(index, "タワー") == ["ja-tower"]  # a Katakana run is one token, as in OpenSearch...
    assert _ranked(index, "ワー") == []  # ...so part of it matches nothing
    assert index.text_search("電波塔", 1)[0].chunk.text == CJK["ja-tower"][0]


def test_a_filter_keeps_the_unfiltered_scores_of_cjk_matches(tmp_path: Path) -> None:
    index = _indexed(tmp_path, _cjk_chunks() + _english_chunks())
    everything = dict(_scored(index, "退货"))

    chinese = dict(_scored(index, "退货", 1, SearchFilters(tags=["zh"])))

    assert len(chinese) == 1 and chinese == pytest.approx({doc: everything[doc] for doc in chinese})
    assert _scored(index, "退货", 5, SearchFilters(tags=["ja"])) == []


def test_no_han_or_hiragana_character_is_dropped_as_a_stop_word_or_stemmed_away(tmp_path: Path) -> None:
    hiragana = [chr(code) for code in range(0x3041, 0x3097)]
    han = [*"一人日本的是不了中国大東京電車会社休暇々〇", "\u3400", "\u4dbf", "\U00020000", "\uf900"]
    index = _indexed(tmp_path, [chunk_of("hiragana", "".join(hiragana)), chunk_of("han", "".join(han))])

    assert [c for c in hiragana if _ranked(index, c) != ["hiragana"]] == []
    assert [c for c in han if _ranked(index, c) != ["han"]] == []


@pytest.mark.parametrize("optimize", [False, True], ids=["rows scanned", "rows indexed"])
def test_english_ranks_and_scores_as_before(tmp_path: Path, optimize: bool) -> None:
    _assert_english_unchanged(_indexed(tmp_path, _english_chunks(), optimize))


# A table made before full-text search read `fts_text`


# Characters at and just beyond each end of every range set apart, among Katakana, Hangul, punctuation and ASCII:
# the SQL that fills the column of old rows must rewrite them exactly as new rows are written.
EDGES = (
    "々〆〇〡〩〸〻〼ぁゖゟ゠ァ㐀䶿一鿿\uf900\ufaff\U0001b000\U0001b001\U0001b11f\U0001b120𠀀\U000323af한국어 ABC-1。x"
)


# The English searches on the old table, by the code before `fts_text`: BM25 takes the number of rows and their
# mean length over the whole table, so they differ from ENGLISH_EXPECTED.
OLD_TABLE_EXPECTED = {
    "installing python packages": [
        ("install", 3.2704553604125977),
        ("venv", 2.794234275817871),
        ("windows", 1.6910996437072754),
        ("wheels", 1.6089777946472168),
    ],
    "running the interpreters": [("windows", 3.720186710357666), ("install", 1.1508859395980835)],
    "memory of objects": [("gc", 3.658191680908203)],
    "pin a wheel by hash": [("hashes", 6.363905429840088), ("wheels", 1.729295015335083)],
}
OLD_TABLE_FILTERED_EXPECTED = {
    "installing python packages": [("install", 3.2704553604125977), ("wheels", 1.6089777946472168)],
    "running the interpreters": [("install", 1.1508859395980835)],
    "memory of objects": [("gc", 3.658191680908203)],
    "pin a wheel by hash": [("wheels", 1.729295015335083)],
}


def _old_chunks() -> list[Chunk]:
    return [*_english_chunks(), *_cjk_chunks(), chunk_of("edges", EDGES)]


def _old_table(folder: Path) -> None:
    table = lancedb.connect(str(folder)).create_table(TABLE_NAME, schema=before_fts_text_schema(2))
    table.add([{**chunk.model_dump(), "vector": [1.0, 1.0]} for chunk in _old_chunks()])
    table.create_index("text", config=FTS(with_position=False))


def test_a_table_made_before_fts_text_is_searched_as_before_until_a_writer_opens_it(tmp_path: Path) -> None:
    _old_table(tmp_path)
    reader = LanceDbVectorIndex(tmp_path)

    _assert_english_unchanged(reader, OLD_TABLE_EXPECTED, OLD_TABLE_FILTERED_EXPECTED)
    assert _ranked(reader, "退款") == []  # its Chinese is still one token per sentence
    assert "fts_text" not in lancedb.connect(str(tmp_path)).open_table(TABLE_NAME).schema.names  # a read writes none


def test_a_table_made_before_fts_text_gains_it_when_opened_for_writing(tmp_path: Path) -> None:
    _old_table(tmp_path)
    reader = LanceDbVectorIndex(tmp_path)
    assert _ranked(reader, "退款") == []  # opened before the writer
    writer = LanceDbVectorIndex(tmp_path)

    writer.ensure_index(2)
    writer.add_chunks([chunk_of("edges-new", EDGES)], np.ones((1, 2), dtype=np.float32))

    table = lancedb.connect(str(tmp_path)).open_table(TABLE_NAME)
    rewritten = {row["document_id"]: row["fts_text"] for row in table.to_arrow().to_pylist()}
    assert rewritten["edges"] == rewritten["edges-new"] != EDGES  # old rows filled as new rows are written
    assert rewritten["install"] == ENGLISH["install"]
    assert [(i.index_type, list(i.columns)) for i in table.list_indices()] == [("FTS", ["fts_text"])]
    for index in (reader, writer):
        assert _ranked(index, "退款")[:2] == ["zh-refunds", "zh-receipts"]
        assert _ranked(index, "され") == ["ja-leave"]
    # Searched as a table made with `fts_text` and holding the same rows is.
    writer.delete_document("edges-new")
    fresh = _indexed(tmp_path / "fresh", _old_chunks())
    queries = [*ENGLISH_EXPECTED, "退款", "電波塔", "され"]
    assert [_scored(reader, query) for query in queries] == [_scored(fresh, query) for query in queries]
    writer.optimize()
    assert [_scored(reader, query) for query in queries] == [_scored(fresh, query) for query in queries]
