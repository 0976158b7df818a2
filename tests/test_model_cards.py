"""The shipped models score what their cards say: each model's figures on a fixed slice of the test splits
(every 10th item, greedy, the bench's settings; `benchmarks/card_slice.py` wrote them into the model's
`card.json`) are measured again here, so a change that moves them — a retrained model, a tokenizer or a
library that decodes differently, a change in how thinking is forced or counted — fails until the card is
measured again. The card's full-split table must carry the same model's figures too."""

import json
import sys
from pathlib import Path

import pytest

from thinkgate.roster import resolve_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from card_slice import slice_rows  # noqa: E402


@pytest.mark.parametrize("model", ["tiny", "tiny-auto", "mini"])
def test_a_shipped_model_scores_its_card_on_a_fixed_slice(model):
    card = json.loads((resolve_model(model) / "card.json").read_text())
    want = card["slice"]["rows"]
    got = slice_rows(model, list(dict.fromkeys(r["strategy"] for r in want)),
                     list(dict.fromkeys(r["suite"] for r in want)), card["slice"]["every"])
    assert [(r["strategy"], r["suite"], r["n"]) for r in got] == [(r["strategy"], r["suite"], r["n"]) for r in want]
    for g, w in zip(got, want):
        one = 1 / w["n"] + 1e-9  # one item's worth: another CPU's arithmetic may flip a near-tie
        where = f"{model} {w['strategy']} on {w['suite']}"
        assert abs(g["accuracy"] - w["accuracy"]) <= one, (where, g, w)
        assert abs(g["think_rate"] - w["think_rate"]) <= one, (where, g, w)
        assert g["think_tokens_mean"] == pytest.approx(w["think_tokens_mean"], rel=0.03, abs=0.5), (where, g, w)


@pytest.mark.parametrize("model", ["tiny", "tiny-auto", "mini"])
def test_the_cards_table_is_the_measured_one(model):
    """The card's full-split rows (card.json `full`, from the bench run its README names) are the rows of the
    README's results table."""
    folder = resolve_model(model)
    card = json.loads((folder / "card.json").read_text())
    readme = (folder / "README.md").read_text()
    for r in card["full"]:
        assert f"| {r['strategy']} | {r['suite']} | {r['n']} | {r['accuracy']} |" in readme, r
