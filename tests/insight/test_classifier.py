"""The classifier library: keyword rules with no training, a trained and calibrated model, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from cityloop.core.errors import ValidationFailed
from cityloop.insight import modelfile
from cityloop.insight.classifier import KeywordClassifier, LinearClassifier
from cityloop.insight.features import CategoryPrior, CharTfidf, document
from cityloop.insight.training import train
from tests.insight.synthetic import CATEGORIES, labelled_rows, rewrite_header


def _data(per_class: int = 16, seed: int = 1) -> tuple[list[tuple[str, str]], list[str]]:
    rows = labelled_rows(per_class, seed)
    return [(r["标题"], r["内容"]) for r in rows], [r["类别"] for r in rows]


def test_keyword_rules_work_from_category_names_alone() -> None:
    rules = KeywordClassifier.from_categories(CATEGORIES)
    got = rules.predict(["小区门口车辆乱停乱放", "工地施工噪音太大", "垃圾清运不及时", "今天天气很好"])
    assert [p.label for p in got[:3]] == ["停车管理", "环境噪音", "垃圾清运"]
    assert got[3].label == "" and got[3].confidence == 0.0  # nothing matches: manual triage
    assert all(0.0 <= p.confidence <= 1.0 for p in got)


def test_keyword_rules_from_a_flat_list_of_category_names() -> None:
    rules = KeywordClassifier.from_categories(["噪音扰民", "违章停车"])
    assert [p.label for p in rules.predict(["晚上噪音很大", "有人违章停车"])] == ["噪音扰民", "违章停车"]


def test_trained_model_predicts_unseen_reports_with_calibrated_confidences() -> None:
    x, y = _data()
    model = train(x, y, prior=CategoryPrior(CATEGORIES))
    test_x, test_y = _data(per_class=6, seed=99)
    predictions = model.predict(test_x)
    accuracy = np.mean([p.label == t for p, t in zip(predictions, test_y, strict=True)])
    assert accuracy >= 0.9
    probs = model.probabilities(test_x)
    assert probs.shape == (len(test_x), 3)
    assert np.all((probs >= 0) & (probs <= 1)) and np.allclose(probs.sum(axis=1), 1.0)
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)
    assert model.temperature > 0
    assert model.training["labelled"] == len(x) and 0 <= model.training["cv_macro_f1"] <= 1


def test_confidence_is_lower_for_a_mixed_report_than_for_a_clear_one() -> None:
    x, y = _data()
    model = train(x, y)
    clear, mixed = model.predict(["小区垃圾堆积无人清运，臭味很大", "停车位旁边垃圾很多还有噪音"])
    assert clear.label == "垃圾清运"
    assert mixed.confidence < clear.confidence


def test_unlabelled_rows_and_reports_are_used_but_never_as_labels() -> None:
    x, y = _data()
    y[0] = ""  # text without a label: an unlabelled report
    extra, _ = _data(per_class=5, seed=7)
    model = train(x, y, unlabelled=extra)
    assert model.training["labelled"] == len(x) - 1
    assert model.training["unlabelled"] == len(extra) + 1
    assert set(model.classes) == set(CATEGORIES)


def test_a_category_with_a_single_example_is_left_out_and_reported() -> None:
    x, y = _data()
    x.append(("井盖丢失", "路上井盖丢失很危险"))
    y.append("市政设施")
    model = train(x, y)
    assert "市政设施" not in model.classes
    assert model.training["dropped_classes"] == {"市政设施": 1}


def test_training_needs_two_categories() -> None:
    x, _ = _data()
    with pytest.raises(ValidationFailed, match="at least 2 categories"):
        train(x, ["环境噪音"] * len(x))


def test_two_categories_give_two_probabilities() -> None:
    x, y = _data()
    keep = [i for i, label in enumerate(y) if label != "垃圾清运"]
    model = train([x[i] for i in keep], [y[i] for i in keep])
    probs = model.probabilities(["晚上施工噪音很吵", "车位被占了"])
    assert probs.shape == (2, 2)
    assert [p.label for p in model.predict(["晚上施工噪音很吵", "车位被占了"])] == ["环境噪音", "停车管理"]


def test_model_file_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    x, y = _data()
    model = train(x, y, prior=CategoryPrior(CATEGORIES))
    path = tmp_path / "m.clf"
    modelfile.save(model, path, fields=["标题", "内容"])
    loaded = modelfile.load(path)
    assert isinstance(loaded, LinearClassifier)
    assert np.allclose(loaded.probabilities(x), model.probabilities(x), atol=1e-5)
    header = modelfile.read_header(path)
    assert header["format_version"] == modelfile.FORMAT_VERSION
    assert header["classes"] == model.classes and header["fields"] == ["标题", "内容"]
    assert {"scikit-learn", "numpy", "python"} <= set(header["libraries"])
    assert header["training"]["cv_folds"] == 5 and header["created"]


def test_keyword_model_files_round_trip(tmp_path: Path) -> None:
    rules = KeywordClassifier.from_categories(CATEGORIES)
    path = tmp_path / "rules.clf"
    modelfile.save(rules, path)
    loaded = modelfile.load(path)
    assert isinstance(loaded, KeywordClassifier)
    assert loaded.predict(["车辆乱停"])[0].label == "停车管理"


def test_a_model_of_another_format_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "m.clf"
    modelfile.save(KeywordClassifier.from_categories(CATEGORIES), path)
    rewrite_header(path, format_version=99)
    with pytest.raises(ValidationFailed) as err:
        modelfile.load(path)
    assert "format version 99" in err.value.message("en") and "retrain" in err.value.message("en")


@pytest.mark.parametrize("content", [b"not a zip", b"PK\x03\x04broken"])
def test_a_file_that_is_no_model_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.clf"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed, match="not a cityloop classifier model"):
        modelfile.load(path)


def test_fast_featurisation_equals_scikit_learn() -> None:
    x, _ = _data(per_class=10)
    texts = [" ".join(r) for r in x] + ["", "Ａ  b\n\nc", "𠀀字"]
    for ngram in ((1, 2), (2, 2), (1, 1)):
        ours = CharTfidf.fit(texts[:20], ngram=ngram, min_df=1)
        ref = TfidfVectorizer(analyzer="char", ngram_range=ngram, vocabulary=ours.vocabulary)
        ref.idf_ = ours.idf
        assert np.abs(ours.transform(texts) - ref.transform(texts)).max() < 1e-12


def test_a_lone_text_featurised_by_look_ups_equals_scikit_learn() -> None:
    # Intake classifies one report at a time through a dictionary path; it must agree with the batch.
    x, _ = _data(per_class=10)
    texts = [" ".join(r) for r in x]
    for ngram in ((1, 2), (2, 2), (1, 1)):
        ours = CharTfidf.fit(texts[:20], ngram=ngram, min_df=1)
        ref = TfidfVectorizer(analyzer="char", ngram_range=ngram, vocabulary=ours.vocabulary)
        ref.idf_ = ours.idf
        for text in [*texts[:25], "", "Ａ  b\n\nc", "𠀀字", "x"]:
            assert abs(ours.transform([text]) - ref.transform([text])).toarray().max() < 1e-12


def test_one_report_at_a_time_gets_the_same_answer_as_in_a_batch() -> None:
    x, y = _data()
    models = [train(x, y, prior=CategoryPrior(CATEGORIES)), KeywordClassifier.from_categories(CATEGORIES)]
    test_x, _ = _data(per_class=4, seed=7)
    batch_texts = [*test_x, "今天天气很好", ""]
    for model in models:
        together = model.probabilities(batch_texts)
        for row, record in enumerate(batch_texts):
            assert np.allclose(model.probabilities([record])[0], together[row], atol=1e-12)
            assert model.predict([record])[0] == model.predict(batch_texts)[row]


def test_the_title_is_the_lead_and_a_lone_text_leads_with_its_opening() -> None:
    assert document(("小区噪音", "晚上 很吵")) == ("小区噪音 晚上 很吵", "小区噪音")
    full, lead = document("一" * 40)
    assert len(full) == 40 and len(lead) == 25
    assert document(("ＡＢＣ１２３", "")) == ("ABC123", "ABC123")
