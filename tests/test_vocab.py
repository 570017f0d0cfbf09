import pytest

from tfreport.vocab import END_ID, PAD_ID, Vocabulary


def test_build_and_specials():
    v = Vocabulary.build(["a b b", "b c"], min_count=2)
    assert v.tokens[:4] == ["<S>", "</S>", "<EOS>", "<unk>"]
    assert v.word_id("b") == 4 and v.word_id("a") == v.unk_id


def test_encode_report_adds_empty_terminator_and_decodes():
    v = Vocabulary.build(["the heart is normal", "no effusion"])
    grid = v.encode_report([["the", "heart"], ["no", "effusion"]], max_sentences=4, max_words=5)
    assert grid.shape == (4, 5)
    assert grid[0, 2] == END_ID and grid[2, 0] == END_ID  # lone </S> ends the report
    assert (grid[3] == PAD_ID).all()
    assert v.decode_report(grid) == ["the heart", "no effusion"]


def test_legacy_vocabulary_without_unk_rejects_unknown_words(tmp_path):
    path = tmp_path / "vocabulary.json"
    path.write_text('["<S>", "</S>", "<EOS>", "heart"]')
    v = Vocabulary.load(str(path))
    assert v.unk_id is None
    with pytest.raises(KeyError, match="lung"):
        v.word_id("lung")


def test_bad_vocabulary_file(tmp_path):
    path = tmp_path / "vocabulary.json"
    path.write_text('["heart", "<S>"]')
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.load(str(path))
