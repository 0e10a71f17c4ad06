"""The words that describe a face: shared by the prompts, the training captions and the checks.

The miniature text-to-image model learns from captions written with these phrases, the offline
prompt composer writes prompts with them, and the validator decides with them whether a prompt
states its group's target and protected values.  A real LLM may use other words; the validator
knows the common synonyms (``VALUE_PATTERNS``).
"""

from __future__ import annotations

import re

#: Head words: (attribute, value) -> the phrase the prompts and captions use.
HEAD_WORDS = {
    ("Smiling", 1): "smiling", ("Smiling", 0): "non-smiling",
    ("Young", 1): "young", ("Young", 0): "old",
    ("Male", 1): "male", ("Male", 0): "female",
    ("Female", 1): "female", ("Female", 0): "male",
    ("White", 1): "white",
}
#: Non-white ethnicities, for UTKFace's Female/White groups (FaceWorld race index -> phrase).
ETHNICITIES = {0: "white", 1: "black", 2: "asian", 3: "indian", 4: "latino"}
NON_WHITE = ("black", "asian", "indian", "latino")

#: Detail phrases for the other attributes (present value only; absent attributes are not mentioned).
DETAILS = {
    "Wavy_Hair": "wavy hair", "Straight_Hair": "straight hair", "Bangs": "bangs", "Eyeglasses": "eyeglasses",
    "Wearing_Hat": "a hat", "Black_Hair": "black hair", "Blond_Hair": "blond hair", "Brown_Hair": "brown hair",
    "Gray_Hair": "gray hair", "Bald": "a bald head", "Heavy_Makeup": "heavy makeup", "Wearing_Lipstick": "lipstick",
    "Mustache": "a mustache", "Goatee": "a goatee", "Pale_Skin": "pale skin", "Wearing_Earrings": "earrings",
    "Wearing_Necklace": "a necklace", "Wearing_Necktie": "a necktie", "Rosy_Cheeks": "rosy cheeks",
    "High_Cheekbones": "high cheekbones", "Arched_Eyebrows": "arched eyebrows", "Bushy_Eyebrows": "bushy eyebrows",
    "Big_Nose": "a big nose", "Pointy_Nose": "a pointy nose", "Big_Lips": "big lips", "Narrow_Eyes": "narrow eyes",
    "Bags_Under_Eyes": "bags under the eyes", "Double_Chin": "a double chin", "Chubby": "a chubby face",
    "Oval_Face": "an oval face", "Sideburns": "sideburns", "5_o_Clock_Shadow": "stubble",
    "Receding_Hairline": "a receding hairline", "Mouth_Slightly_Open": "mouth slightly open",
}
BEARD = "a beard"  # No_Beard = 0
POSES = {"left": "head turned left", "right": "head turned right", "front": "head facing forward",
         "tilt_left": "head tilted left", "tilt_right": "head tilted right"}
PREFIX = "portrait face photo of a"
UTK_PREFIX = "face photo of a"

#: Words a prompt may use for each (attribute, value); a prompt must match its group's pattern and
#: must not match the opposite value's.
VALUE_PATTERNS = {
    ("Smiling", 1): r"\bsmiling\b|\bsmile\b|\bgrinning\b",
    ("Smiling", 0): r"\bnon-smiling\b|\bnot smiling\b|\bunsmiling\b|\bneutral expression\b|\bserious\b",
    ("Male", 1): r"\bmale\b|\bman\b|\bboy\b|\bgentleman\b",
    ("Male", 0): r"\bfemale\b|\bwoman\b|\bgirl\b|\blady\b",
    ("Young", 1): r"\byoung\b|\byouthful\b",
    ("Young", 0): r"(?<!-)\bold\b|\bolder\b|\belderly\b|\baged\b|\bsenior\b|\bmiddle-aged\b",
    ("White", 1): r"\bwhite\b(?!\s+(?:hair|beard|shirt|background))|\bcaucasian\b",
    ("White", 0): r"\bblack\b(?!\s+hair)|\bafrican\b|\basian\b|\bindian\b|\bhispanic\b|\blatino\b|\blatina\b|\bmiddle eastern\b|\barab\b",
}
VALUE_PATTERNS[("Female", 1)] = VALUE_PATTERNS[("Male", 0)]
VALUE_PATTERNS[("Female", 0)] = VALUE_PATTERNS[("Male", 1)]


def states(prompt: str, attribute: str, value: int) -> bool:
    """Whether ``prompt`` says ``attribute`` = ``value`` and does not say the opposite."""
    if (attribute, value) not in VALUE_PATTERNS:
        raise KeyError(f"no words known for {attribute}={value}; known: {sorted(VALUE_PATTERNS)}")
    text = prompt.lower()
    if attribute == "Smiling":  # "smiling" is inside "non-smiling": decide on the negated forms first
        negated = re.search(VALUE_PATTERNS[("Smiling", 0)], text) is not None
        return negated if value == 0 else (not negated and re.search(VALUE_PATTERNS[("Smiling", 1)], text) is not None)
    says = re.search(VALUE_PATTERNS[(attribute, value)], text) is not None
    contradicts = re.search(VALUE_PATTERNS[(attribute, 1 - value)], text) is not None
    return says and not contradicts


def pose_phrase(yaw: float, tilt: float) -> str:
    """The head-pose phrase of a scene: turned left/right beyond |yaw| 0.25, else tilted beyond 8°, else forward."""
    if yaw < -0.25:
        return POSES["left"]
    if yaw > 0.25:
        return POSES["right"]
    if tilt < -8:
        return POSES["tilt_left"]
    if tilt > 8:
        return POSES["tilt_right"]
    return POSES["front"]


def join_details(details: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b, and c"`` (the shipped prompts' style)."""
    if len(details) <= 1:
        return "".join(details)
    if len(details) == 2:
        return f"{details[0]} and {details[1]}"
    return ", ".join(details[:-1]) + f", and {details[-1]}"


def vocabulary() -> list[str]:
    """Every word the captions and composed prompts can contain (for the miniature model's tokenizer)."""
    words = set(PREFIX.split()) | set(UTK_PREFIX.split()) | {"with", "and", "head", "person"}
    for phrase in list(HEAD_WORDS.values()) + list(ETHNICITIES.values()) + list(DETAILS.values()) + list(POSES.values()) + [BEARD]:
        words.update(phrase.split())
    words.update(f"{age}-year-old" for age in range(1, 117))
    return sorted(words)


def caption(scene, rng, attribute_dropout: float = 0.3, max_details: int = 3, style: str = "celeba") -> str:
    """A training caption for one scene (a row with FaceWorld's scene columns).

    Every phrase is kept with probability 1 − ``attribute_dropout``, so the model also learns from
    captions that leave an attribute out — and then draws it from the training prior, as a real
    text-to-image model does.  ``style="utk"`` writes "face photo of a 25-year-old white female";
    ``"celeba"`` writes "portrait face photo of a young smiling male".
    """
    keep = lambda: rng.random() >= attribute_dropout  # noqa: E731
    male = int(scene["Male"])
    smiling = HEAD_WORDS[("Smiling", int(scene["Smiling"]))]
    gender = HEAD_WORDS[("Male", male)]
    noun = gender if keep() else "person"  # a dropped gender leaves "a smiling person"
    if style == "utk":
        head = [f"{int(scene['age'])}-year-old" if keep() else "", ETHNICITIES[int(scene["race"])] if keep() else "",
                smiling if keep() else "", noun]
        prefix = UTK_PREFIX
    else:
        adjectives = [HEAD_WORDS[("Young", int(scene["Young"]))] if keep() else "", smiling if keep() else ""]
        if rng.random() < 0.5:  # either order, so that "smiling young" and "young smiling" mean the same
            adjectives.reverse()
        head = adjectives + [noun]
        prefix = PREFIX
    present = [phrase for name, phrase in DETAILS.items() if int(scene.get(name, 0)) == 1]
    if male and int(scene.get("No_Beard", 1)) == 0:
        present.append(BEARD)
    present = [p for p in present if keep()]
    if len(present) > max_details:
        present = list(rng.choice(present, size=max_details, replace=False))
    text = " ".join([prefix] + [w for w in head if w])
    if present:
        text += " with " + join_details(present)
    if keep():
        text += ", " + pose_phrase(float(scene["yaw"]), float(scene["tilt"]))
    return text
