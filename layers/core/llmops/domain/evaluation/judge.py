"""LLM-as-judge: a catalog prompt (judge-answer) asks a model to rate an answer on a rubric, 1 to 10 per criterion.

Judges do not always answer in the format asked for, small ones least of all. The parser takes a JSON object
anywhere in the reply, else `criterion: 7` lines, else a lone `Score: 7`, `Rating: 7/10` or `[[7]]`; a reply with
none of these is a parse failure, kept with the raw reply and counted in the report, never turned into a score.
"""

from __future__ import annotations

import json
import re
from statistics import fmean
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from llmops.domain.prompts import PromptVersion, VersionRef
from llmops.ports import GenerationRequest, LanguageModel

CRITERIA = ("helpfulness", "relevance", "accuracy", "level_of_detail")
_ALIASES = {
    "helpful": "helpfulness",
    "helpfulness": "helpfulness",
    "relevance": "relevance",
    "relevant": "relevance",
    "relevancy": "relevance",
    "accuracy": "accuracy",
    "accurate": "accuracy",
    "correctness": "accuracy",
    "level_of_detail": "level_of_detail",
    "levelofdetail": "level_of_detail",
    "detail": "level_of_detail",
    "details": "level_of_detail",
    "overall": "overall",
    "score": "overall",
    "rating": "overall",
    "overall_score": "overall",
}
_NUMBER = r"(10(?:\.0+)?|[0-9](?:\.[0-9]+)?)"
_CRITERION_LINE = re.compile(
    r"(helpfulness|helpful|relevance|relevancy|accuracy|correctness|level[ _-]*of[ _-]*detail|details?)"
    r"\**\s*(?:score)?\s*[:=\-]\s*\**\s*" + _NUMBER + r"(?:\s*/\s*10)?",
    re.IGNORECASE,
)
_OVERALL = re.compile(
    r"(?:\b(?:overall(?:\s+score)?|score|rating)\b\**\s*[:=\-]?\s*\**\s*" + _NUMBER + r"(?:\s*/\s*10)?)"
    r"|\[\[\s*" + _NUMBER + r"\s*\]\]"
    r"|\b" + _NUMBER + r"\s*/\s*10\b",
    re.IGNORECASE,
)
MAX_RATIONALE_CHARS = 1000


class JudgeVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    scores: dict[str, float] = Field(default_factory=dict, description="Criterion to 1-10; `overall` included.")
    rationale: str = ""
    parsed: bool
    parse_method: str | None = Field(default=None, description="json, criteria or overall; None on failure.")
    raw: str = Field(default="", description="The judge's reply, kept when it could not be parsed.")
    judge_model: str = ""
    prompt_id: str = ""

    @property
    def overall(self) -> float | None:
        return self.scores.get("overall")


def _key(name: str) -> str | None:
    return _ALIASES.get(re.sub(r"[\s\-]+", "_", name.strip().lower()).replace("__", "_")) or _ALIASES.get(
        re.sub(r"[^a-z]", "", name.lower())
    )


def _rating(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*" + _NUMBER + r"\s*(?:/\s*10)?\s*", value)
        value = float(match.group(1)) if match else None
    if isinstance(value, int | float) and 1 <= value <= 10:
        return float(value)
    return None


def _json_objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    found = []
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        try:
            value, _ = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def _with_overall(scores: dict[str, float]) -> dict[str, float]:
    criteria = [scores[name] for name in CRITERIA if name in scores]
    if "overall" not in scores and criteria:
        scores["overall"] = round(fmean(criteria), 3)
    return scores


def parse_verdict(text: str) -> JudgeVerdict:
    """Scores from a judge's reply (see the module's docstring for the formats understood)."""
    for candidate in _json_objects(text):
        scores: dict[str, float] = {}
        rationale = ""
        for name, value in candidate.items():
            if isinstance(value, dict):  # {"accuracy": {"score": 7, "reason": "..."}}
                value = value.get("score", value.get("rating"))
            key = _key(str(name))
            rating = _rating(value)
            if key and rating is not None:
                scores[key] = rating
            elif str(name).lower() in {"rationale", "reason", "reasoning", "explanation", "justification"}:
                rationale = str(value)
        if scores:
            return JudgeVerdict(
                scores=_with_overall(scores), rationale=rationale[:MAX_RATIONALE_CHARS], parsed=True,
                parse_method="json",
            )  # fmt: skip
    scores = {}
    for match in _CRITERION_LINE.finditer(text):
        key, rating = _key(match.group(1)), _rating(float(match.group(2)))
        if key and rating is not None and key not in scores:
            scores[key] = rating
    rationale_match = re.search(r"(?:rationale|reason(?:ing)?|explanation)\s*[:\-]\s*(.+)", text, re.IGNORECASE | re.S)
    rationale = rationale_match.group(1).strip()[:MAX_RATIONALE_CHARS] if rationale_match else ""
    if scores:
        return JudgeVerdict(scores=_with_overall(scores), rationale=rationale, parsed=True, parse_method="criteria")
    overall = _OVERALL.search(text)
    if overall:
        rating = _rating(float(next(group for group in overall.groups() if group is not None)))
        if rating is not None:
            return JudgeVerdict(scores={"overall": rating}, rationale=rationale, parsed=True, parse_method="overall")
    return JudgeVerdict(parsed=False, raw=text[:MAX_RATIONALE_CHARS])


class JudgePrompts(Protocol):
    def resolve(self, name: str, ref: VersionRef = ...) -> PromptVersion: ...


class Judge:
    """Rates an answer to a question (against a reference answer, when there is one) with a catalog prompt."""

    def __init__(self, llm: LanguageModel, prompts: JudgePrompts, prompt_name: str, prompt_ref: VersionRef) -> None:
        self._llm = llm
        self._prompts = prompts
        self._prompt_name = prompt_name
        self._prompt_ref = prompt_ref

    def prompt(self) -> PromptVersion:
        return self._prompts.resolve(self._prompt_name, self._prompt_ref)

    def judge(self, question: str, answer: str, reference: str | None) -> JudgeVerdict:
        version = self.prompt()
        values = {"question": question, "answer": answer, "reference": reference or "(no reference answer)"}
        rendered = version.render({name: values[name] for name in version.variables if name in values})
        generation = self._llm.generate(
            GenerationRequest(
                system=rendered.system,
                user=rendered.user,
                max_new_tokens=rendered.parameters.max_tokens or 160,
                temperature=rendered.parameters.temperature or 0.0,
                top_p=rendered.parameters.top_p,
                stop=rendered.parameters.stop,
            )
        )
        verdict = parse_verdict(generation.text)
        return verdict.model_copy(update={"judge_model": self._llm.model_id, "prompt_id": rendered.prompt_id})
