from tfreport.text import cap_sentences, normalise_report, report_sentences, select_sections


def test_legacy_character_rules():
    # digits, hyphens, slashes and apostrophes are deleted without inserting a space
    assert normalise_report("Mild T9 wedging. T-spine and/or patient's XXXX.") == [
        "mild t wedging", "tspine andor patients xxxx"]


def test_sentence_split_rules():
    # "Dr." and "p.m." do not end a sentence; ".." is never a sentence of its own and, as in
    # the legacy data_entry.json, does not end one either; 1-word sentences are dropped
    text = "Discussed with Dr. Smith at 3 p.m. XXXX. Heart normal.. Lungs clear. Clear. No effusion"
    assert normalise_report(text) == ["discussed with dr smith at  pm xxxx",
                                      "heart normal lungs clear", "no effusion"]
    assert normalise_report("No acute disease..") == ["no acute disease"]


def test_decimal_point_is_not_a_sentence_end_and_inner_spaces_are_kept():
    assert normalise_report("Nodule measures 1.5 cm. No effusion.") == [
        "nodule measures  cm", "no effusion"]


def test_sections_impression_then_findings():
    assert report_sentences("Heart is normal.", "No acute disease.") == [
        "no acute disease", "heart is normal"]
    assert report_sentences("", "No acute disease", "findings_or_impression") == ["no acute disease"]
    assert select_sections("A b.", "C d.", "findings") == "A b."


def test_cap():
    sents = [" ".join(["w"] * 60)] * 10
    capped = cap_sentences(sents, 8, 50)
    assert len(capped) == 8 and all(len(s) == 49 for s in capped)


def test_legacy_reference_cuts_to_8_sentences_of_49_words():
    from tfreport.text import legacy_reference
    sentences = [" ".join(f"w{i}x{j}" for j in range(60)) for i in range(10)]
    words = legacy_reference(sentences).replace(".", "").split()
    assert len(words) == 8 * 49
    assert words[0] == "w0x0" and words[48] == "w0x48" and words[49] == "w1x0"
    assert legacy_reference(["a b", "c d"]) == "a b. c d."  # short reports are unchanged


def test_join_report_keeps_sentence_boundaries_for_the_labeler():
    # Without the periods a negation at the start of the report reached every later mention.
    from tfreport import labeler
    from tfreport.text import join_report
    text = join_report(["no pneumothorax", "small left pleural effusion"])
    assert text == "no pneumothorax. small left pleural effusion."
    assert labeler.label_report(text)["Pleural Effusion"] == 1
    assert labeler.label_report(text.replace(".", ""))["Pleural Effusion"] == 0  # the old bug


def test_accents_fold_and_ascii_is_unchanged():
    from tfreport.text import normalise_sentence
    assert normalise_sentence("Épanchement pleural, côté droit") == "epanchement pleural cote droit"
    ascii_text = "The heart is normal in size, 2.0 cm."
    assert normalise_sentence(ascii_text) == "the heart is normal in size  cm"
