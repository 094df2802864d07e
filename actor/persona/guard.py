"""The role guard: is a generated line something the customer would say?

A small model playing a customer slips into the employee's or an assistant's voice, refuses,
answers in the wrong language, repeats itself or leaks its instructions. :func:`check_line`
finds these (returns the reasons; empty = acceptable) and :func:`tidy_line` trims a line to what
a customer says out loud. The actor regenerates on a rejected line and falls back to a playbook
line after a bounded number of tries, so the trainee never sees a broken turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

MAX_WORDS = 40  # a spoken customer line; longer lines are cut at a sentence end
REPEAT_SENTENCE_WORDS = 5  # sentences this long are compared one by one with earlier lines

_EMPLOYEE_VOICE = [
    r"\bhow (?:can|may) i (?:help|assist)\b", r"\bwhat can i do for you\b", r"\bi (?:\w+ )?understand your (?:frustration|concern)\b",
    r"\bthank you for (?:your patience|contacting|calling)\b", r"\bi apologi[sz]e for the inconvenience\b",
    r"\bwaarmee kan ik (?:u|je) helpen\b", r"\bhoe kan ik (?:u|je) helpen\b", r"\bik begrijp (?:\w+ )?(?:uw|je) frustratie\b",
    r"\bbedankt voor uw geduld\b", r"\bexcuses voor het ongemak\b", r"\bi know you(?:'re| are) upset\b",
    r"\bik begrijp dat u (?:boos|van streek|gefrustreerd) bent\b",
    r"^\s*(?:employee|medewerker|trainee|assistant|assistent)\s*:",
    # the employee's voice after a role-reversal attempt: summing up the customer's situation, offering help
    r"\byou(?:'ve| have) been (?:here|waiting|coming)\b", r"\byou want (?:to (?:get|have)|your)\b",
    r"\byou(?:'re| are) here (?:for|about|because)\b", r"\blet me (?:check|look into|look that up|see what i can do)\b",
    r"\bi(?:'ll| will) (?:check|look into|see what i can do)\b", r"\bi can offer you\b", r"\bis there anything else\b",
    r"\bu bent hier (?:nu |al |dus )*(?:voor|om|omdat)\b", r"\bu wilt (?:uw|graag uw|dus)\b",
    r"\bu (?:staat|komt) hier (?:nu |al |dus )*voor\b", r"\bik kijk (?:het )?(?:even |voor u )+(?:na|in)\b",
    r"\bik zoek het (?:even |voor u )+uit\b", r"\bik kan u (?:\w+ )?aanbieden\b", r"\bkan ik (?:u|je) (?:nog )?(?:ergens )?(?:mee )?helpen\b",
    r"\bu hebt er uw\b", r"\bik ben hier om (?:(?:u|je) )?te helpen\b", r"\bi(?:'m| am) here to help\b",
    # introducing oneself as the employee; telling the customer what they want or feel
    r"\bik ben (?:hier )?(?:de |een )?\w*(?:medewerker|ambtenaar|loketmedewerker)\b",
    r"\bi(?:'m| am) (?:the |an? )?(?:\w+ )?(?:employee|clerk|agent|officer)\b(?! of)",
    r"^\W*(?:je|u) wilt (?:het|je|uw|dus|graag)\b", r"^\W*you want (?:the|it|to)\b",
    r"\bom (?:je|u) te helpen\b", r"\bto help you\b",
    # offering the employee's service: to help, to do what one can, to see what can be done
    # (explaining "slowly, so you can follow" is the white-collar customer's condescension: allowed)
    r"\bik (?:zal|ga|wil) (?:u|je|jou) (?:\w+ ){0,2}helpen\b", r"\bi(?:'ll| will) (?:\w+ )?help you\b",
    r"\bi(?:'ll| will) do (?:everything|all|what|whatever) i can\b", r"\bi(?:'ll| will) do my best to (?:help|resolve|sort)\b",
    r"\bi(?:'ll| will) see what i can do\b", r"\bi(?:'ll| will) see if i can (?:help|find|come up with|sort)\b",
    # promising the employee's service: to find a solution, to make sure, to put through; the employee's colleagues
    r"\bik (?:zal|ga) (?:\w+ ){0,2}(?:zoeken naar|op zoek naar|met) (?:een )?oplossing\b",
    r"\bi(?:'ll| will) (?:\w+ )?(?:find|look for|come up with) (?:a|the) solution\b", r"\bi(?:'ll| will) do everything to\b",
    r"\bik (?:zal )?zorg(?:en)? er ?voor dat (?:u|je|jij)\b", r"\bi(?:'ll| will) make sure (?:that )?you\b",
    r"\bik (?:zal|ga) (?:je|u) (?:\w+ ){0,3}(?:doorverbinden|aan de lijn)\b", r"\bi(?:'ll| will) put you through\b",
    r"\b(?:mijn|my) (?:teamleider|leidinggevende|vestigingsmanager|team ?leader|supervisor|branch manager)\b",
    r"\bon your behalf\b", r"\bnamens (?:u|jou)\b",
    r"^\W*(?:je|u) bent (?:nog steeds |nog |erg |echt )*(?:boos|gefrustreerd|geïrriteerd|van streek)\b",
    r"^\W*you(?:'re| are) (?:still |very |really |so )*(?:angry|upset|frustrated|annoyed|not being)\b",
]
_ASSISTANT_VOICE = [
    r"\bas an ai\b", r"\blanguage model\b", r"\bi(?:'m| am) (?:an? )?(?:ai|assistant|chatbot)\b", r"\bi cannot (?:help|assist) with\b",
    r"\bi(?:'m| am) sorry,? but i can(?:'t|not)\b", r"\bals (?:een )?ai\b", r"\btaalmodel\b", r"\bik ben (?:een )?(?:ai|assistent|chatbot)\b",
    r"\bik kan (?:u|je) daar niet mee helpen\b", r"\bhere(?:'s| is) (?:a|an|the) (?:response|reply|example)\b",
]
_LEAKS = [
    r"\bsystem prompt\b", r"\bmy instructions\b", r"\bmijn instructies\b", r"\brole-?play\b", r"\brollenspel\b", r"\btraining\b", r"\btrainee\b",
    r"\bescalation level\b", r"\bescalatieniveau\b", r"\baggression type\b", r"\bL[0-4]\b", r"\bplaybook\b", r"\btactic\b",
    r"\bpersona\b", r"\bscenario\b", r"\bsimulat", r"\bi(?:'m| am) (?:just )?playing\b", r"\bik speel\b",
    # headings of the customer's own prompt (prompts/persona/customer.yaml)
    r"\bzo klink (?:je|jij) (?:nu|nou|now)\b", r"\bhoe je je nu voelt\b", r"\bwat je nu doet\b", r"\bhet gesprek tot nu toe\b",
    r"\bthis is how you sound\b", r"\bhow you feel now\b", r"\bwhat you do now\b", r"\bthe conversation so far\b",
    # narration about the conversation instead of speech in it
    r"\bde (?:medewerker|klant) (?:heeft|had|is|was|wordt|werd|zegt|zei|vraagt|vroeg|maakte|deed|stelde|weet|wist|voelt|wil|wilde"
    r"|denkt|dacht|ziet|zag|begrijpt|reageert|zal|zou|gaat|ging|krijgt|kreeg)\b",  # not "kan", "moet": sarcasm
    r"\bthe (?:employee|customer) (?:has|is|was|says|said|asks|asked|made|did|knows|feels|wants|thinks|sees|understands|reacts"
    r"|finds|found|realises|realizes|learns|learned|tells|told|tries|tried|becomes|became|hears|heard"
    r"|did|didn't|does|doesn't|had|hasn't|would|will|needs|needed|gets|got)\b",  # not "can", "must": sarcasm
    r"\bde (?:medewerker|klant) (?:ontdekt|ontdekte|hoort|hoorde|vertelt|vertelde|probeert|probeerde|merkt|merkte)\b",
    # the stage direction's own words: its label, "answer as the customer"
    r"^\W*(?:regie|regering|regieaanwijzing|stage direction|direction)\s*:", r"\bantwoord als (?:de )?klant\b",
    r"\banswer as (?:the )?customer\b", r"^\s*\(",  # a line opening with a parenthesis is a stage direction
    r"\bhet gesprek (?:is|wordt)\b",
    r"\bthe conversation (?:is|was|has)\b",
    # a template's placeholder instead of speech: "Eén ophaalcode: [Zet hier je ophaalcode]", "{code}"
    # (markup such as "<img …>" or "![c](…)" is left to the display, which shows it as text)
    r"\[[^\]\s]*\s[^\]]*\]", r"\{[^}]*\}",
    # the stage direction's and the transcript's own terms: "een concrete vervolgstap", "Zeg, medewerker:"
    r"\bconcrete (?:vervolgstap|next step)\b", r"(?:^|,\s*)(?:medewerker|employee)\s*[.!?,:]",
    r"\bwat (?:de )?klant (?:nu )?zegt\b", r"\bwhat (?:the )?customer says\b", r"^\s*(?:hier is|here(?:'s| is)) (?:wat|what|het antwoord|de reactie|the (?:response|reply|answer))\b",
]
_COOPERATIVE = [  # a customer at L2+ who apologises, thanks or agrees has dropped the role
    r"\bsorry\b", r"\bi apologi[sz]e\b", r"\bthank(?:s| you)\b", r"\bi appreciate\b", r"\byou(?:'re| are) (?:right|correct)\b",
    r"\bexcuses\b", r"\bhet spijt me\b", r"\bbedankt\b", r"\bdank (?:u|je)\b", r"\b(?:u|je) (?:hebt|heeft) gelijk\b",
    r"\bi understand your position\b", r"\bik begrijp (?:uw|je) standpunt\b",
    r"\byou(?:'re| are) (?:very |most )?welcome\b", r"\bgraag gedaan\b", r"\bgeen dank\b",  # answering thanks
    # opening with understanding ("Ik begrijp je.", "I understand the situation"), unless it is "I don't get ..."
    r"^\W*ik begrijp\b(?!\s+(?:\w+\s+){0,3}niet\b)", r"^\W*i (?:understand|see)\b(?!\s+(?:\w+\s+){0,3}(?:why|how)\b)",
]
_SATISFIED = [  # a customer at L3+ who says they are reassured, glad or fine with it has dropped the role
    r"\bgerust(?:gesteld|gebracht)\b", r"^\W*(?:dat|het) is (?:heel |helemaal |ook |wel )?(?:goed|prima|niet erg)\b",
    r"\bik ben (?:blij|tevreden)\b", r"^\W*geweldig\b",
    r"\byou(?:'ve| have) (?:reassured|calmed) me\b", r"^\W*(?:that's|that is|it's|it is) (?:all )?(?:fine|good|great|okay|ok|alright)\b",
    r"\bi(?:'m| am) (?:so )?(?:glad|happy|pleased)\b", r"^\W*great\b",
]
COOPERATIVE_WORDS = {  # single words of _COOPERATIVE, which the embedded model is kept from saying at L2+
    "nl": ("sorry", "excuses", "bedankt", "dank"),
    "en": ("sorry", "thanks", "thank", "apologise", "apologize", "appreciate"),
}
COOPERATIVE_FIRST_WORDS = {  # a line at L2+ may not begin with these (its first word is shown on its own)
    "nl": ("dank", "bedankt", "sorry", "excuses"),
    "en": ("thanks", "thank", "sorry", "apologies"),
}
EMPLOYEE_OPENINGS = {  # openings of _EMPLOYEE_VOICE ("You want to get your money back."), kept from the embedded model
    "nl": tuple(f"{you} wilt {w}" for you in ("Je", "U") for w in ("het", "je", "uw", "dus", "graag"))
    + ("U bent hier voor", "Je bent boos", "U bent boos"),
    "en": ("You want the", "You want it", "You want to", "I know you're upset", "You're here for", "You're upset",
           "You're angry", "You're frustrated"),
}
NARRATION_OPENINGS = {  # a line that starts like this narrates the scene or directs it (the embedded model is kept from it)
    "nl": ("De klant", "De medewerker", "("),
    "en": ("The customer", "The employee", "("),
}
COOPERATIVE_OPENINGS = {  # openings of _COOPERATIVE, which the embedded model is kept from starting with at L2+
    "nl": ("Ik begrijp", "Je hebt gelijk", "U hebt gelijk", "U heeft gelijk"),
    "en": ("I understand", "I see", "You're right", "You are right", "You're correct", "You are correct"),
}
SATISFIED_OPENINGS = {  # openings of _SATISFIED, which the embedded model is kept from starting with at L3+
    "nl": ("Dat is goed", "Het is goed", "Dat is heel goed", "Het is heel goed", "Dat is prima", "Het is prima",
           "Ik ben blij"),
    "en": ("That's fine", "That's good", "That's great", "It's fine", "It's good", "That is fine", "I'm glad", "I'm happy"),
}
_STOPWORDS = {
    "nl": {"de", "het", "een", "ik", "u", "je", "jij", "niet", "dat", "is", "en", "van", "wat", "nu", "hier", "mijn", "jullie",
           "maar", "met", "voor", "op", "dit", "wil", "ben", "heb", "zijn", "geen", "nog", "al", "wel", "toch", "hoe", "waarom"},
    "en": {"the", "a", "an", "i", "you", "not", "that", "is", "and", "of", "what", "now", "here", "my", "your", "but", "with",
           "for", "on", "this", "want", "am", "have", "are", "no", "still", "why", "it", "me", "do", "don't", "to", "be"},
}


def language_of(text: str) -> str | None:
    """``nl`` or ``en`` by function words, ``None`` when the line has too few to tell."""
    words = re.findall(r"[a-zA-Z']+", text.lower())
    counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    if max(counts.values()) < 2:
        return None
    return max(counts, key=counts.get)


def _any(patterns: list[str], text: str) -> bool:
    return any(re.search(p, text, re.I | re.M) for p in patterns)


def _spaced_words(text: str) -> str:
    """``text``'s words, lower case, one space between and around them (for word-exact search)."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def echoes(line: str, other: str, n: int = 5, similar: float = 0.8) -> bool:
    """Whether ``line`` copies ``other``: ``n`` consecutive words of it, or a sentence (of
    :data:`REPEAT_SENTENCE_WORDS` words or more) more than ``similar`` like one of its sentences
    (a copy with a word inserted or misspelt: "Ik leg u graag nu rustig verder uit wat der kan"
    after "Ik leg u graag rustig verder uit wat er kan")."""
    words = re.findall(r"\w+", line.lower())
    target = _spaced_words(other)
    if any(f" {' '.join(words[i:i + n])} " in target for i in range(len(words) - n + 1)):
        return True
    return any(SequenceMatcher(None, a, b).ratio() > similar for a in _sentences(line) for b in _sentences(other))


def _sentences(text: str, min_words: int = REPEAT_SENTENCE_WORDS) -> list[str]:
    return [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= min_words]


def repeats(line: str, earlier: Sequence[str]) -> bool:
    """Whether ``line`` repeats one of ``earlier``: more than 80 % similar as a whole, the line or
    one of its sentences (three words or more) contained word for word in an earlier line, or one of its sentences (of five words
    or more) more than 85 % similar to a sentence of an earlier line."""
    low = line.strip().lower()
    if any(SequenceMatcher(None, low, e.lower()).ratio() > 0.8 for e in earlier):
        return True
    said = [_spaced_words(e) for e in earlier]
    for part in [low, *_sentences(low, 1)]:  # the line, and each of its sentences
        words = _spaced_words(part)
        if len(words.split()) >= 3 and any(words in e for e in said):
            return True  # cut word for word out of an earlier line ("Ja, met Smit." after the opening)
    mine = _sentences(line)
    return any(SequenceMatcher(None, a, b).ratio() > 0.85 for e in earlier for b in _sentences(e) for a in mine)


def check_line(line: str, lang: str, earlier: Sequence[str] = (), level: int = 0,
               employee: str | Sequence[str] = "") -> list[str]:
    """Reasons to reject ``line`` as the customer's next line (empty list = acceptable).

    ``lang``: the session language; ``earlier``: ALL the customer's previous lines, whatever
    produced them (see :func:`repeats`); ``level``: the customer's escalation level (from L2 on,
    apologising, thanking or agreeing is out of role; from L3 on, saying they are reassured,
    glad or fine with it); ``employee``: the employee's lines (one
    string or all of them: copying five words of any of them in a row is an echo, not an answer).
    """
    reasons = []
    text = line.strip()
    if not text:
        return ["empty"]
    if _any(_EMPLOYEE_VOICE, text):
        reasons.append("speaks as the employee")
    if _any(_ASSISTANT_VOICE, text):
        reasons.append("speaks as an assistant or refuses")
    if _any(_LEAKS, text) or text.endswith(":") and len(text.split()) >= 2:  # "Hier is een nieuwe versie:"
        reasons.append("leaks instructions or breaks the fiction")
    detected = language_of(text)
    if detected is not None and detected != lang:
        reasons.append(f"wrong language ({detected})")
    if repeats(text, earlier):
        reasons.append("repeats an earlier line")
    first = re.sub(r"\W+$", "", text.split()[0]).lower()
    cooperative = _any(_COOPERATIVE, text) or first in COOPERATIVE_FIRST_WORDS.get(lang, ())
    if level >= 2 and cooperative or level >= 3 and _any(_SATISFIED, text):
        reasons.append(f"too cooperative for L{level}")
    if any(echoes(text, e) for e in ([employee] if isinstance(employee, str) else employee) if e):
        reasons.append("echoes the employee")
    return reasons


def tidy_line(line: str, max_words: int = MAX_WORDS) -> str:
    """The line as spoken: first paragraph, no speaker label or quotes, cut at a sentence end."""
    text = line.strip().split("\n\n")[0].strip()
    text = re.sub(r"^\s*(?:customer|klant)\s*:\s*", "", text, flags=re.I)
    text = text.strip().strip('"“”').strip()
    words = text.split()
    if len(words) <= max_words:
        return text
    cut = " ".join(words[:max_words])
    end = max(cut.rfind("."), cut.rfind("!"), cut.rfind("?"))
    return cut[: end + 1] if end > 0 else cut + "…"
