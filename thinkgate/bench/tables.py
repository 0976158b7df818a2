"""The bench's and calibration's tables, each declared once (its columns: header, field, number format) and
rendered from the report's rows two ways: for the terminal (`console`, a rich table) and for the HTML
report (`html`). The command line prints them; `report.py` writes them into its page.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str = ""  # a format spec for numbers (".3f"); "" writes the value as it is

    def cell(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if value is None:
            return "-"
        if isinstance(value, dict):  # {model: tokens}
            return " · ".join(f"{k} {format(v, self.fmt or 'g')}" for k, v in value.items())
        return format(value, self.fmt) if self.fmt and isinstance(value, (int, float)) else str(value)


@dataclass(frozen=True)
class TableSpec:
    title: str
    columns: tuple[Column, ...]
    labels: int = 1  # how many leading columns are labels (left-aligned); the rest are figures

    def console(self, rows: list[dict[str, Any]], title: str | None = None):
        from rich.table import Table

        table = Table(title=self.title if title is None else title)
        for k, c in enumerate(self.columns):
            table.add_column(c.header, justify="left" if k < self.labels else "right")
        for r in rows:
            table.add_row(*(c.cell(r) for c in self.columns))
        return table

    def html(self, rows: list[dict[str, Any]]) -> str:
        head = "".join(f"<th>{_html.escape(c.header)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{_html.escape(c.cell(r))}</td>" for c in self.columns) + "</tr>"
                       for r in rows)
        return f"<h2>{_html.escape(self.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PER_SUITE = TableSpec("Per suite", (
    Column("strategy", "strategy"), Column("suite", "suite"), Column("n", "n"), Column("accuracy", "accuracy", ".3f"),
    Column("think tok", "think_tokens_mean", ".1f"), Column("answer tok", "answer_tokens_mean", ".1f"),
    Column("think rate", "think_rate", ".2f"), Column("GFLOP", "cost_mean", ".3f")), labels=2)

MODELS = TableSpec("Tokens each model wrote (mean per item) and generation GFLOPs", (
    Column("strategy", "strategy"), Column("suite", "suite"), Column("tokens by model", "tokens_by_model", ".1f"),
    Column("GFLOP", "cost_mean", ".4f")), labels=2)

OTB = TableSpec("OptimalThinkingBench metrics (over + under)", (
    Column("strategy", "strategy"), Column("AUC_OAA", "auc_oaa", ".3f"), Column("Acc_ut", "acc_ut", ".3f"),
    Column("F1_otb", "f1_otb", ".3f"), Column("think tok", "think_tokens_mean", ".1f"),
    Column("accuracy", "accuracy", ".3f")))

ROUTING = TableSpec("Routing on the test items: APGR against the oracle (threshold swept)", (
    Column("strategy", "strategy"), Column("set", "set"), Column("n", "n"), Column("think rate", "think_rate", ".2f"),
    Column("accuracy", "accuracy", ".3f"), Column("APGR", "apgr", ".3f"), Column("oracle APGR", "oracle_apgr", ".3f"),
    Column("rate@50%", "cost_50", ".3f"), Column("rate@80%", "cost_80", ".3f"),
    Column("oracle rate@50%", "oracle_cost_50", ".3f"), Column("oracle rate@80%", "oracle_cost_80", ".3f")), labels=2)

PAIRWISE = TableSpec("Judge, pairwise (both orders): wins, ties, flips", (
    Column("A", "a"), Column("B", "b"), Column("compared", "compared"), Column("same answer", "same_answer"),
    Column("A wins", "a_wins"), Column("B wins", "b_wins"), Column("ties", "ties"), Column("flips", "flips"),
    Column("unclear", "unclear"), Column("flip rate", "flip_rate", ".3f"), Column("first chosen", "first_rate", ".3f")),
    labels=2)

CALIBRATION = TableSpec("Routing on the calibration split (out-of-fold): the chosen threshold against the oracle", (
    Column("router", "router"), Column("set", "set"), Column("think %", "think_pct", ".0f"),
    Column("accuracy", "accuracy", ".3f"), Column("think tok", "think_tokens_mean", ".1f"),
    Column("F1_otb", "f1_otb", ".3f"), Column("APGR", "apgr", ".3f"), Column("oracle acc", "oracle_accuracy", ".3f"),
    Column("oracle tok", "oracle_think_tokens_mean", ".1f"), Column("oracle APGR", "oracle_apgr", ".3f")), labels=2)


def calibration_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A calibration record's curves as CALIBRATION's rows: one per router and set."""
    rows = []
    for kind, rec in record["routers"].items():
        for name, c in rec["curves"].items():
            chosen, oracle = c["chosen"], c["oracle"]
            rows.append({"router": kind, "set": name, "think_pct": 100 * chosen["think_rate"],
                         "accuracy": chosen["accuracy"], "think_tokens_mean": chosen["think_tokens_mean"],
                         "f1_otb": chosen.get("f1_otb"), "apgr": c["apgr"], "oracle_accuracy": oracle["accuracy"],
                         "oracle_think_tokens_mean": oracle["think_tokens_mean"], "oracle_apgr": c["oracle_apgr"]})
    return rows


OPTIONS = TableSpec("Routing between models: the chosen threshold against the per-query oracle (APGR on cost, from "
                    "the cheapest option to the most accurate)", (
    Column("router", "router"), Column("set", "set"), Column("accuracy", "accuracy", ".3f"),
    Column("GFLOP", "cost_mean", ".4f"), Column("think %", "think_pct", ".0f"), Column("APGR", "apgr", ".3f"),
    Column("cost@50%", "cost_50", ".2f"), Column("oracle acc", "oracle_accuracy", ".3f"),
    Column("oracle GFLOP", "oracle_cost_mean", ".4f"), Column("oracle APGR", "oracle_apgr", ".3f")), labels=2)

SHARES = TableSpec("Routing between models: the share of queries each option took", (
    Column("router", "router"), Column("set", "set"), Column("option", "option"), Column("share", "share", ".3f"),
    Column("oracle's share", "oracle_share", ".3f")), labels=3)


def share_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OPTIONS' rows as SHARES' rows: one per router, set and option that either it or the oracle took."""
    out = []
    for r in rows:
        for option in dict.fromkeys([*r["shares"], *r["oracle_shares"]]):
            out.append({"router": r["router"], "set": r["set"], "option": option, "share": r["shares"].get(option, 0.0),
                        "oracle_share": r["oracle_shares"].get(option, 0.0)})
    return out


def option_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Routing between models as OPTIONS' rows: one per router (or bench strategy) and item set, from a
    calibration record (`routers`) or the bench's `routing_models` list."""
    curves = ((kind, rec["curves"]) for kind, rec in record["routers"].items()) if "routers" in record else ()
    rows = []
    for kind, sets in curves:
        for name, c in sets.items():
            rows.append(option_row(kind, name, c))
    return rows


def option_row(router: str, name: str, c: dict[str, Any]) -> dict[str, Any]:
    chosen, oracle = c["chosen"], c["oracle"]
    return {"router": router, "set": name, "accuracy": chosen["accuracy"], "cost_mean": chosen["cost_mean"],
            "think_pct": 100 * chosen["think_rate"], "apgr": c.get("apgr"), "cost_50": c.get("cost_50"),
            "oracle_accuracy": oracle["accuracy"], "oracle_cost_mean": oracle["cost_mean"],
            "oracle_apgr": c.get("oracle_apgr"), "shares": chosen["shares"], "oracle_shares": oracle["shares"]}


CALIBRATION_TEST = TableSpec("Calibration on the test items: predicted P(correct) against what happened (ECE over 10 "
                             "equal-width bins)", (
    Column("strategy", "strategy"), Column("set", "set"), Column("of", "of"), Column("n", "n"),
    Column("ECE", "ece", ".3f"), Column("Brier", "brier", ".3f"), Column("AUROC", "auroc", ".3f")), labels=3)
