"""One comparison in the report's vocabulary: a stats PairwiseTest under the reference API's names.

:class:`PolicyComparisonResult` *is* the stats result (a subclass that adds no fields), so every number
has one name in one place and ``report.json`` stores the stats fields as they are; the reference API's
names (``policy_a_name``, ``avg_reward_a``, ``is_significant``, ...) are read-only properties over them.
Under ``stop_when="decided"`` the group-sequential decision (:mod:`daf_core.comparison.sequential`)
decides ``significant`` and the verdict; its details ride along as ``sequential`` (an attribute, not a
field: a fixed-n report's files stay exactly as they were) and are saved in the report's
``metadata["sequential"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daf_core import stats
from daf_core.comparison import formatting as fmt


@dataclass(frozen=True)
class PolicyComparisonResult(stats.PairwiseTest):
    """Policy a against policy b on one mission (or ``"all"``, the aggregate across missions).

    Differences are a - b. ``p_value`` is the raw p-value of the primary test (``test_name``);
    ``p_value_adjusted`` is Holm-corrected over every comparison in the report, and ``is_significant``
    means ``p_value_adjusted < significance_level``. ``effect_size`` is Hedges' g (unpaired) or
    Cohen's d_z (paired), named in ``effect_size_name`` (their mean over missions for ``"all"``).
    ``probability_of_improvement`` is P(a > b) + P(a = b)/2 over all pairs of episodes (the mean over
    missions for ``"all"``). Undefined numbers are None, never NaN; ``note`` says why.

    Under ``stop_when="decided"``, ``is_significant`` is "decided better or worse" by the sequential
    design, ``p_adjusted`` is None (a fixed-n Holm p-value means nothing after optional stopping),
    ``p_value`` stays as a description and ``note`` starts with the decision. ``sequential`` then holds
    the decision (better/worse/equivalent/undecided, the deciding look, episodes used, the repeated
    confidence interval ``rci_low``/``rci_high`` at ``1 - alpha``, alpha the report's level split over
    the family) on the run's report; a report loaded from disk has it in ``metadata["sequential"]``.
    """

    @property
    def sequential(self) -> dict[str, Any] | None:
        """The sequential decision behind this result (``stop_when="decided"``), else None."""
        return self.__dict__.get("_sequential")

    @classmethod
    def from_test(cls, test: stats.PairwiseTest, extra_note: str = "") -> PolicyComparisonResult:
        """The report's view of a stats result, with the report's own note (e.g. on pairing) in front."""
        note = "; ".join(n for n in (extra_note, test.note) if n)
        return cls(**{**dataclasses.asdict(test), "note": note})

    def with_sequential(self, decision: Mapping[str, Any], family_size: int) -> PolicyComparisonResult:
        """This comparison with its verdict taken from a sequential decision (a ``SequentialResult`` dict)."""
        note = (
            f"sequential: {decision['decision']} after {decision['episodes']} paired episodes "
            f"(look {decision['looks']}), repeated CI at {1 - decision['alpha']:.4g} (Bonferroni over "
            f"{family_size}); p_value is the fixed-n test of the final episodes, a description only"
        )
        if not self.note.startswith(note):  # a reloaded report's comparisons carry it already
            note = "; ".join(n for n in (note, decision.get("note", ""), self.note) if n)
        else:
            note = self.note
        result = dataclasses.replace(
            self, significant=decision["decision"] in ("better", "worse"), p_adjusted=None, note=note
        )
        details = {k: v for k, v in decision.items() if k not in ("mission", "policy_a", "policy_b")}
        object.__setattr__(result, "_sequential", details)  # not a field: see the module docstring
        return result

    @property
    def policy_a_name(self) -> str:
        return self.policy_a

    @property
    def policy_b_name(self) -> str:
        return self.policy_b

    @property
    def avg_reward_a(self) -> float:
        """Policy a's mean episode reward (for ``"all"``: the mean of its per-mission means)."""
        return self.mean_a

    @property
    def avg_reward_b(self) -> float:
        return self.mean_b

    @property
    def p_value_adjusted(self) -> float | None:
        return self.p_adjusted

    @property
    def is_significant(self) -> bool:
        return self.significant

    @property
    def significance_level(self) -> float:
        return self.alpha

    @property
    def effect_size_ci_low(self) -> float | None:
        return self.effect_ci_low

    @property
    def effect_size_ci_high(self) -> float | None:
        return self.effect_ci_high

    @property
    def better_policy(self) -> str | None:
        """The policy with the higher mean when the difference is significant, else None (under
        ``stop_when="decided"``: the policy the sequential decision found better)."""
        if self.sequential is not None:
            return {"better": self.policy_a_name, "worse": self.policy_b_name}.get(
                self.sequential["decision"]
            )
        if not self.is_significant or self.mean_diff == 0:
            return None
        return self.policy_a_name if self.mean_diff > 0 else self.policy_b_name

    def verdict(self) -> str:
        """The conclusion in words, at the report's significance level (after Holm; or the sequential
        design's decision under ``stop_when="decided"``)."""
        level = f"{self.significance_level:g}"
        if self.sequential is not None:
            return self._sequential_verdict(level)
        if self.p_value is None:
            return f"no test possible (too few episodes): no significant difference at {level}"
        if self.is_significant:
            return f"{self.better_policy} better, significant at {level}"
        return f"no significant difference at {level}"

    def _sequential_verdict(self, level: str) -> str:
        decision, episodes = self.sequential["decision"], self.sequential["episodes"]
        where = f"after {episodes} episodes (sequential, {level} over the report)"
        if decision in ("better", "worse"):
            return f"{self.better_policy} better, decided {where}"
        if decision == "equivalent":
            return f"equivalent within +-{self.sequential['margin']:g}, decided {where}"
        return f"undecided {where}: no significant difference at {level}"

    def summary_string(self) -> str:
        """One line a reader can quote, e.g.

        ``tiny_walk: random vs noop: 0.405 vs 0.02 (diff +0.385, 95% CI [0.325, 0.445]), Cohen's d_z=4.8
        [1.97, 7.63], P(a>b)=1.00, paired t p=7.8e-05 (Wilcoxon signed-rank p=0.031), Holm-adjusted
        p=7.8e-05 -> random better, significant at 0.05``
        """
        ci = ""
        if self.mean_diff_ci_low is not None and self.mean_diff_ci_high is not None:
            ci = f", {self.confidence:.0%} CI {fmt.interval(self.mean_diff_ci_low, self.mean_diff_ci_high)}"
        effect = f"{fmt.EFFECT_LABELS.get(self.effect_size_name, self.effect_size_name)}="
        effect += fmt.number(self.effect_size)
        if self.effect_size_ci_low is not None and self.effect_size_ci_high is not None:
            effect += f" {fmt.interval(self.effect_size_ci_low, self.effect_size_ci_high)}"
        tests = f"{fmt.TEST_LABELS.get(self.test_name, self.test_name)} p={fmt.p_value(self.p_value)}"
        if self.nonparametric_test != self.test_name:
            nonparametric = fmt.TEST_LABELS.get(self.nonparametric_test, self.nonparametric_test)
            tests += f" ({nonparametric} p={fmt.p_value(self.p_value_nonparametric)})"
        return (
            f"{self.mission}: {self.policy_a_name} vs {self.policy_b_name}: "
            f"{fmt.number(self.avg_reward_a)} vs {fmt.number(self.avg_reward_b)} "
            f"(diff {fmt.signed(self.mean_diff)}{ci}), {effect}, "
            f"P(a>b)={self.probability_of_improvement:.2f}, {tests}, {self._decided_by()} -> {self.verdict()}"
        )

    def _decided_by(self) -> str:
        if self.sequential is None:
            return f"Holm-adjusted p={fmt.p_value(self.p_value_adjusted)}"
        rci = fmt.interval(self.sequential["rci_low"], self.sequential["rci_high"])
        return f"repeated {1 - self.sequential['alpha']:.4g} CI {rci}"
