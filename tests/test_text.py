from tfreport.text import cap_sentences, normalise_report, report_sentences, select_sections


def test_legacy_character_rules():
    # digits, hyphens, slashes and apostrophes are deleted without inserting a space
    assert normalise_report("Mild T9 wedging. T-spine and/or patient's XXXX.") == [
        "mild t wedging", "tspine andor patients xxxx"]


def test_sentence_split_rules():
    # "Dr." does not end a sentence; ".." is not a sentence of its own; 1-word sentences go
    text = "Findings discussed with Dr. Smith at XXXX.. Heart normal. Clear. No effusion"
    assert normalise_report(text) == ["findings discussed with dr smith at xxxx",
                                      "heart normal", "no effusion"]


def test_decimal_point_is_not_a_sentence_end():
    assert normalise_report("Nodule measures 1.5 cm. No effusion.") == [
        "nodule measures cm", "no effusion"]


def test_sections_impression_then_findings():
    assert report_sentences("Heart is normal.", "No acute disease.") == [
        "no acute disease", "heart is normal"]
    assert report_sentences("", "No acute disease", "findings_or_impression") == ["no acute disease"]
    assert select_sections("A b.", "C d.", "findings") == "A b."


def test_cap():
    sents = [" ".join(["w"] * 60)] * 10
    capped = cap_sentences(sents, 8, 50)
    assert len(capped) == 8 and all(len(s) == 49 for s in capped)
