"""Contextual prompts: the LLM instruction, three backends, validation and a cache with provenance.

AIM-Fair asks GPT-4 for prompts with an instruction of the form "{Task}, {Number of Prompts},
{Target Attribute}, {Protected Attribute}, {Other Detailed Descriptions}, and {Prompt Format}"
(``aimfair.md`` §4.1).  :func:`instruction` writes it for a CelebA setting (CelebA's other
attributes and, optionally, head poses) or for UTKFace (ages 1–100).  Backends:

* :class:`ChatCompletionsBackend` — any OpenAI-compatible ``/chat/completions`` endpoint (hosted
  APIs and local servers alike); base URL, model and key come from the environment, and the key is
  never written anywhere;
* :class:`TransformersBackend` — a local ``transformers`` causal language model;
* :class:`ComposerBackend` — an offline, deterministic stand-in used by ``mini`` and ``smoke``: it
  fills the same instruction fields by drawing the context attributes of a face of the group from
  FaceWorld's calibrated sampler (and a head pose) into the prompt format.

Every prompt a backend returns is checked: it must state its group's target and protected values
(:func:`fairlab.faceworld.phrases.states`); off-target and duplicate prompts are dropped and the
backend is asked again until the count is met, or stops with an error after ``max_requests``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from fairlab.aimfair.settings import Setting
from fairlab.faceworld import phrases, sampler, world

API_KEY_ENV = ("FAIRLAB_LLM_API_KEY", "OPENAI_API_KEY")
BASE_URL_ENV = "FAIRLAB_LLM_BASE_URL"
MODEL_ENV = "FAIRLAB_LLM_MODEL"

#: CelebA's other attributes as the paper's instruction lists them.
CELEBA_CONTEXT = (
    "5 o'clock shadow", "arched eyebrows", "attractive", "bags under eyes", "bald", "bangs", "big lips", "big nose",
    "black hair", "blurry", "brown hair", "bushy eyebrows", "chubby", "double chin", "eyeglasses", "goatee", "grey hair",
    "heavy makeup", "high cheekbones", "mouth slightly open", "moustache", "narrow eyes", "no beard", "oval face",
    "pale skin", "pointy nose", "receding hairline", "rosy cheeks", "sideburns", "straight hair", "wavy hair",
    "wearing earrings", "wearing a hat", "wearing lipstick", "wearing necklace", "wearing necktie", "young",
)


class PromptError(RuntimeError):
    """A prompt backend failed or answered something unusable.

    ``permanent``: asking again cannot help (the network is blocked, the endpoint refuses the key or has no such
    model), so :func:`collect` stops at once instead of spending its requests.
    """

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


#: HTTP answers that a repeated request gets again
PERMANENT_HTTP = {400, 401, 403, 404, 405, 410, 422}


def redact_url(url: str) -> str:
    """``url`` without the secrets a URL can carry: the user and password, and every query value."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{k}=***" for k, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def group_words(setting: Setting, t: int, s: int) -> str:
    """How the group is named: adjectives (smiling, young, white) before the noun (male, female, person)."""
    words = {setting.target: t, setting.protected: s}
    adjectives = [phrases.HEAD_WORDS[(a, v)] for a, v in words.items() if a in ("Smiling", "Young")]
    if "White" in words:
        adjectives.append("white" if words["White"] else "non-white")
    nouns = [phrases.HEAD_WORDS[(a, v)] for a, v in words.items() if a in ("Male", "Female")]
    return " ".join(adjectives + (nouns or ["person"]))


def plain_prompt(setting: Setting, t: int, s: int) -> str:
    """The paper's baseline: one plain prompt per group, e.g. "Portrait face photo of a smiling male."."""
    words = group_words(setting, t, s)
    if setting.dataset == "utkface":
        words = words.replace("non-white", "black")  # one plain prompt names one ethnicity, as the shipped list does
        return f"Face photo of a {words}."
    return f"Portrait face photo of a {words}."


def instruction(setting: Setting, t: int, s: int, n: int, head_poses: bool = True) -> str:
    """The LLM instruction: task, number of prompts, target, protected, other details, prompt format."""
    group = group_words(setting, t, s)
    target = phrases.HEAD_WORDS.get((setting.target, t), group)
    protected = phrases.HEAD_WORDS.get((setting.protected, s), "non-white" if setting.protected == "White" else group)
    if setting.dataset == "utkface":
        details = ("Each prompt should describe a facial expression, a hairstyle and other distinguishing features, with "
                   "ages spanning 1 to 100 across the prompts")
        form = 'Use the format "Face photo of a <age>-year-old <ethnicity> <gender> with ...", and describe only the face'
    else:
        details = "Each prompt should also mention some of these attributes: " + ", ".join(CELEBA_CONTEXT)
        if head_poses:
            details += ". Each prompt should vary the head pose (slight tilts, turns and orientations)"
        form = f'Use the format "Portrait face photo of a {group} with ...", and show only the head'
    return (f"Write {n} diverse text-to-image prompts for face photos of a {group}. "
            f"Every prompt must state that the person is {target} and {protected}. {details}. {form}. "
            f"Write one prompt per line, without numbering.")


def instruction_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PromptRequest:
    """What a backend is asked for: the instruction text and, for the offline composer, its fields."""

    setting: Setting
    t: int
    s: int
    n: int
    head_poses: bool
    seed: int

    @property
    def text(self) -> str:
        return instruction(self.setting, self.t, self.s, self.n, self.head_poses)


class ChatCompletionsBackend:
    """An OpenAI-compatible chat-completions endpoint (``{base_url}/chat/completions``)."""

    name = "chat-completions"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0, temperature: float = 1.0):
        self.base_url, self.model, self.timeout, self.temperature = base_url.rstrip("/"), model, timeout, temperature
        self._api_key = api_key  # kept in memory only; never part of a record, a log or a message

    @classmethod
    def from_environment(cls) -> "ChatCompletionsBackend":
        base_url, model = os.environ.get(BASE_URL_ENV), os.environ.get(MODEL_ENV)
        if not base_url or not model:
            raise PromptError(f"the chat-completions backend needs ${BASE_URL_ENV} (e.g. http://localhost:8000/v1) "
                              f"and ${MODEL_ENV}; the key, if any, goes in ${API_KEY_ENV[0]}")
        key = next((os.environ[k] for k in API_KEY_ENV if os.environ.get(k)), None)
        return cls(base_url, model, key)

    @property
    def shown_url(self) -> str:
        """The endpoint as messages and records show it: no credentials (:func:`redact_url`)."""
        return redact_url(self.base_url)

    def provenance(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": self.shown_url}

    def _redact(self, text: str) -> str:
        """``text`` (a server's reason phrase, an error) with the key and the URL's secrets blanked out."""
        for secret in filter(None, (self._api_key, urllib.parse.urlsplit(self.base_url).password,
                                    *(v for _, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.base_url).query)))):
            text = text.replace(secret, "***")
        return text.replace(self.base_url, self.shown_url)

    def complete(self, request: PromptRequest, attempt: int) -> str:
        from fairlab import offline
        from fairlab.offline import NetworkBlocked

        host = urllib.parse.urlsplit(self.base_url).hostname
        if offline.is_offline() and not offline.is_local_host(host):
            raise PromptError(f"{self.shown_url} is not on this machine and the kernels run offline; start the build "
                              f"with --allow-network to reach a hosted endpoint, or serve a model on localhost",
                              permanent=True)
        body = json.dumps({"model": self.model, "temperature": self.temperature, "seed": request.seed + attempt,
                           "messages": [{"role": "user", "content": request.text}]}).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        http = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers, method="POST")
        where = f"{self.shown_url}/chat/completions"
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            raise PromptError(f"{where} answered HTTP {exc.code} ({self._redact(str(exc.reason))})",
                              permanent=exc.code in PERMANENT_HTTP) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, NetworkBlocked) or isinstance(exc, NetworkBlocked):
                raise PromptError(f"{where} is not on this machine and the kernels run offline; start the build with "
                                  f"--allow-network to reach a hosted endpoint, or serve a model on localhost",
                                  permanent=True) from None
            raise PromptError(f"{where} could not be reached: {self._redact(str(reason))}") from None
        except json.JSONDecodeError:
            raise PromptError(f"{where} did not answer with JSON") from None
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise PromptError(f"{where} answered without choices[0].message.content") from None


class TransformersBackend:
    """A local causal language model (a folder, or a model id already in the local cache)."""

    name = "transformers"

    def __init__(self, model: str, max_new_tokens: int = 1200, local_only: bool = True, device: str = "cpu"):
        self.model_name, self.max_new_tokens, self.local_only = model, max_new_tokens, local_only
        self.device = device  # the profile's compute device (fairlab.device.runtime)
        self._model = self._tokenizer = None

    def provenance(self) -> dict:
        return {"backend": self.name, "model": self.model_name}

    def _load(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model_name, local_files_only=self.local_only)
                self._model = AutoModelForCausalLM.from_pretrained(self.model_name, local_files_only=self.local_only).eval()
                self._model.to(self.device)
            except OSError as exc:
                raise PromptError(f"cannot load the language model {self.model_name!r} locally: {exc}",
                                  permanent=True) from None
        return self._model, self._tokenizer

    def complete(self, request: PromptRequest, attempt: int) -> str:
        import torch

        model, tokenizer = self._load()
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template([{"role": "user", "content": request.text}], add_generation_prompt=True,
                                                return_tensors="pt")
        else:
            ids = tokenizer(request.text + "\n", return_tensors="pt").input_ids
        torch.manual_seed(request.seed + attempt)
        ids = ids.to(self.device)
        with torch.inference_mode():
            out = model.generate(ids, do_sample=True, temperature=1.0, max_new_tokens=self.max_new_tokens,
                                 pad_token_id=tokenizer.eos_token_id)
        return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


class ComposerBackend:
    """The offline stand-in for the LLM: prompts composed from FaceWorld's calibrated attribute sampler.

    For a group it draws faces with the group's target and protected values from the copula (so
    the context is plausible: no beard on a woman, lipstick rarely on a man), names two or three of
    each face's other attributes and, with head poses, its pose, in the paper's prompt format.
    UTKFace prompts name an age drawn from UTKFace's real ages of the group and an ethnicity.
    """

    name = "composer"

    def provenance(self) -> dict:
        return {"backend": self.name, "model": "fairlab offline composer (FaceWorld sampler)"}

    def complete(self, request: PromptRequest, attempt: int) -> str:
        rng = np.random.default_rng([request.seed, attempt, request.t, request.s])
        setting = request.setting
        count = request.n + 8  # a few spare, as an LLM gives
        if setting.dataset == "utkface":
            scenes = self._utk_faces(request, count, rng)
        else:
            fixed = pd.DataFrame({setting.target: [request.t] * count, setting.protected: [request.s] * count}).astype(np.int8)
            scenes = sampler.celeba_copula().sample_given(rng, fixed, partition="train")
            scenes = scenes.assign(yaw=rng.uniform(-world.YAW_RANGE, world.YAW_RANGE, count),
                                   tilt=rng.normal(0, world.TILT_SD, count))
        return "\n".join(self._compose(row, request, rng) for _, row in scenes.iterrows())

    @staticmethod
    def _utk_faces(request: PromptRequest, count: int, rng: np.random.Generator) -> pd.DataFrame:
        cells = sampler.utkface_cells()
        female, white = (request.t, request.s)
        mask = (cells["gender"] == female) & ((cells["race"] == 0) == bool(white))
        pool = cells[mask]
        picks = pool.iloc[rng.choice(len(pool), size=count, p=(pool["p"] / pool["p"].sum()).to_numpy())]
        fixed = pd.DataFrame({"Male": (picks["gender"].to_numpy() == 0).astype(np.int8),
                              "Young": (picks["age"].to_numpy() < sampler.YOUNG_AGE_LIMIT).astype(np.int8)})
        faces = sampler.celeba_copula().sample_given(rng, fixed, partition="all")
        child = picks["age"].to_numpy() < 13
        for name in world.ADULT_ONLY:
            faces.loc[child, name] = 0
        return faces.assign(age=picks["age"].to_numpy(), race=picks["race"].to_numpy(),
                            yaw=rng.uniform(-world.YAW_RANGE, world.YAW_RANGE, count), tilt=rng.normal(0, world.TILT_SD, count))

    @staticmethod
    def _compose(row: pd.Series, request: PromptRequest, rng: np.random.Generator) -> str:
        setting = request.setting
        fixed = {setting.target, setting.protected}
        present = [p for name, p in phrases.DETAILS.items() if name not in fixed and int(row.get(name, 0)) == 1]
        if int(row.get("Male", 0)) == 1 and int(row.get("No_Beard", 1)) == 0:
            present.append(phrases.BEARD)
        chosen = list(rng.choice(present, size=min(len(present), int(rng.integers(1, 3))), replace=False)) if present else []
        if setting.dataset == "utkface":
            gender = phrases.HEAD_WORDS[("Female", request.t)]
            text = f"Face photo of a {int(row['age'])}-year-old {phrases.ETHNICITIES[int(row['race'])]} {gender}"
        else:
            text = f"Portrait face photo of a {group_words(setting, request.t, request.s)}"
        details = chosen + ([phrases.pose_phrase(float(row["yaw"]), float(row["tilt"]))] if request.head_poses else [])
        if details:
            text += " with " + phrases.join_details(details)
        return text + "."


def parse_prompts(text: str) -> list[str]:
    """One prompt per non-empty line, without list numbering, bullets or quotes."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", line).strip().strip('"').strip("'").strip()
        if len(line.split()) >= 4:
            out.append(" ".join(line.split()))
    return out


@dataclass
class PromptSet:
    """The valid prompts of each group, with how they were obtained."""

    setting: str
    prompts: dict[str, list[str]]
    provenance: dict
    rejected: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"setting": self.setting, "prompts": self.prompts, "provenance": self.provenance, "rejected": self.rejected}


def collect(backend, setting: Setting, n: int, head_poses: bool = True, seed: int = 0, max_requests: int = 5) -> PromptSet:
    """Ask ``backend`` for ``n`` valid prompts per group of ``setting`` (checking, deduplicating, asking again)."""
    prompts, rejected, hashes = {}, {}, {}
    for t, s in setting.groups():
        group = f"{t}_{s}"
        request = PromptRequest(setting, t, s, n, head_poses, seed)
        hashes[group] = instruction_hash(request.text)
        kept, seen, dropped, failures = [], set(), [], []
        for attempt in range(max_requests):
            try:
                answer = backend.complete(request, attempt)
            except PromptError as exc:  # a malformed or failed answer counts as a request; ask again
                if exc.permanent:
                    raise
                failures.append(str(exc))
                continue
            for prompt in parse_prompts(answer):
                key = prompt.lower().rstrip(".")
                if key in seen:
                    continue
                if phrases.states(prompt, setting.target, t) and phrases.states(prompt, setting.protected, s):
                    seen.add(key)
                    kept.append(prompt)
                else:
                    dropped.append(prompt)
                if len(kept) == n:
                    break
            if len(kept) == n:
                break
        else:
            examples = "; ".join(dropped[:3]) or "no parsable lines"
            failed = f"; {len(failures)} requests failed, last: {failures[-1]}" if failures else ""
            raise PromptError(f"{backend.provenance()['backend']} gave only {len(kept)} of {n} valid prompts for "
                              f"{setting.label} group {group} ({group_words(setting, t, s)}) after {max_requests} requests; "
                              f"rejected e.g.: {examples}{failed}")
        prompts[group], rejected[group] = kept, dropped
    provenance = backend.provenance() | {"instruction_hashes": hashes, "head_poses": head_poses, "n": n, "seed": seed,
                                         "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return PromptSet(setting.label, prompts, provenance, rejected)


def plain_set(setting: Setting) -> PromptSet:
    """The paper's plain-prompt baseline as a prompt set (one prompt per group)."""
    prompts = {f"{t}_{s}": [plain_prompt(setting, t, s)] for t, s in setting.groups()}
    return PromptSet(setting.label, prompts, {"backend": "plain", "model": "one fixed prompt per group"})
