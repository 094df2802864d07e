"""The scene check: vocabularies derived from the scenario files, not hand-listed; the playbook
split into generic and per-scenario lines; instruction text and markup."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actor.knowledge import load_corpus
from actor.persona.actor import instruction_texts, load_persona_prompt, playbook_lines
from actor.persona.scenario import Scenario, load_scenarios
from actor.persona.scene import SceneCheck, amounts, normalise

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"


def check(scenario_id: str, lang: str, **kw) -> SceneCheck:
    prompt = load_persona_prompt()[0][lang]
    texts, phrases = instruction_texts(prompt, lang)
    scenarios = kw.pop("scenarios", None) or load_scenarios()
    return SceneCheck.from_files(scenarios[scenario_id], lang, scenarios, kw.pop("knowledge_dir", KNOWLEDGE),
                                 instructions=texts, phrases=phrases, labels=[prompt.customer_label, prompt.employee_label])


@pytest.mark.parametrize(("lang", "scenario", "words"), [
    ("nl", "counter", {"pakket", "webwinkel", "vlotpost"}), ("nl", "phone", {"rekening", "opzegvergoeding", "meterstand"}),
    ("nl", "intimidation", {"auto", "borg", "schade"}), ("nl", "office", {"vergunning", "toeslag", "wethouder"}),
    ("en", "counter", {"parcel", "coat", "webshop"}), ("en", "phone", {"bill", "meter", "exit"}),
    ("en", "intimidation", {"car", "deposit", "damage"}), ("en", "office", {"permit", "event", "alderman"}),
])
def test_vocabularies_come_from_each_scenario_s_own_files(lang, scenario, words):
    v = check("counter", lang).vocab[scenario]
    assert words <= v.words | v.names
    generic = {"klant", "medewerker", "manager", "customer", "employee", "vandaag", "today", "geld", "money"}
    assert not generic & (v.words | v.names)


@pytest.mark.parametrize(("scenario", "lang", "line", "foreign"), [
    ("counter", "nl", "Ik snap gewoon niet hoe een rekening ineens vierhonderd euro kan zijn.", "rekening (phone)"),
    ("phone", "nl", "Kijk, dat is al de derde keer dat ik voor hetzelfde pakketje kom.", "pakketje (counter)"),
    ("phone", "nl", "Maar waar is mijn pakket?", "pakket (counter)"),
    ("counter", "en", "I only want to drop the car off and go home.", "car (intimidation)"),
    ("office", "en", "I want my €430 back.", "€430 (intimidation)"),
    ("intimidation", "nl", "Bel Helder Energie maar.", "helder (phone)"),
])
def test_lines_naming_another_scenario_are_rejected(scenario, lang, line, foreign):
    assert foreign in check(scenario, lang).foreign(line)


@pytest.mark.parametrize(("scenario", "lang", "line"), [
    ("counter", "nl", "Waar is mijn pakket nou? Ik wil mijn geld terug."),
    ("phone", "nl", "Die eindafrekening van elfhonderd euro klopt niet, ik wil een manager."),
    ("intimidation", "en", "That dent was already on the car. Take the €430 off."),
    ("office", "nl", "Ik ken wethouder Van Dijk persoonlijk. Die toeslag gaat eraf."),
    ("phone", "en", "I want to speak to your manager, today."),
])
def test_lines_of_the_own_scenario_pass(scenario, lang, line):
    assert check(scenario, lang).check(line) == []


def test_a_new_scenario_file_is_checked_from_its_own_text(tmp_path):
    """A trainer's scenario about a bicycle repair gets its own vocabulary without code changes."""
    data = yaml.safe_load((ROOT / "prompts" / "scenarios" / "counter.yaml").read_text(encoding="utf-8"))
    bike = {"nl": "De fiets met de kapotte versnelling staat al drie weken bij Rijwielhuis Spaak; de fiets moest vrijdag klaar zijn.",
            "en": "The bicycle with the broken gears has been at Rijwielhuis Spaak for three weeks; the bicycle was due on Friday."}
    data["setting"] = bike
    data["briefing"] = bike
    data["customer"]["wants"] = {"nl": "Zijn fiets vandaag terug, gerepareerd.", "en": "His bicycle back today, repaired."}
    data["opening_line"] = {"nl": "Waar is mijn fiets?", "en": "Where is my bicycle?"}
    data["customer"]["hidden_facts"] = [{"fact": bike, "ask_about": {"nl": "de fiets", "en": "the bicycle"}}]
    edited = Scenario.model_validate(data)
    scenarios = {**load_scenarios(), "counter": edited}
    empty = tmp_path / "knowledge"
    empty.mkdir()
    phone = check("phone", "nl", scenarios=scenarios, knowledge_dir=empty)
    assert "fiets" in phone.vocab["counter"].words and "spaak" in phone.vocab["counter"].names
    assert "fiets (counter)" in phone.foreign("Ik kom mijn fiets ophalen.")
    assert check("counter", "nl", scenarios=scenarios, knowledge_dir=empty).foreign("Waar is mijn fiets?") == []


def test_generic_playbook_lines_name_no_scenario_and_scenario_lines_stay_in_theirs():
    docs = [d for d in load_corpus(KNOWLEDGE) if d.meta.kind == "playbook"]
    assert {d.meta.scenario for d in docs} >= {None, "counter", "phone", "office", "intimidation"}
    scenarios = load_scenarios()
    for lang in ("nl", "en"):
        checks = {sid: SceneCheck.from_files(s, lang, scenarios, KNOWLEDGE) for sid, s in scenarios.items()}
        for d in (d for d in docs if d.meta.lang == lang):
            for line in playbook_lines([d.body]):
                for sid in ([d.meta.scenario] if d.meta.scenario else checks):
                    assert not checks[sid].check(line), (d.source, line, sid, checks[sid].check(line))


def test_a_scenario_line_planted_in_the_generic_playbook_is_still_caught(tmp_path):
    """The generic playbook is the background of ordinary words, but a scenario's own words stay
    far more frequent in its files than one stray line can make them in the background."""
    import shutil

    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    vent = copy / "nl" / "playbook" / "frustration-vent.md"
    vent.write_text(vent.read_text(encoding="utf-8") + "- Waar is mijn pakket nou? Dit is de derde keer.\n", encoding="utf-8")
    assert "pakket (counter)" in check("phone", "nl", knowledge_dir=copy).foreign("Waar is mijn pakket nou?")


@pytest.mark.parametrize(("lang", "line"), [
    ("en", "You threaten a complaint, a bad review or social media."),
    ("en", "Refusing and challenging the rules."),
    ("nl", "Je kleineert de medewerker."),
    ("nl", "Zo klink je nu, bijvoorbeeld:"),
    ("nl", "De klant wil nog niets specifieks, maar moet de teleurstelling kwijt."),  # a playbook description
    ("en", "The employee set a boundary. Test that boundary once more and push on."),  # a stage direction
])
def test_instruction_text_is_a_leak(lang, line):
    assert "reproduces instruction text" in check("counter", lang).check(line)


@pytest.mark.parametrize(("lang", "line"), [
    ("en", "Do you know who you are talking to? Evidently not."),
    ("nl", "Wat je wilt, dat kan me niet schelen. Ik wil mijn pakket."),
])
def test_ordinary_speech_is_not_an_instruction_leak(lang, line):
    assert check("counter", lang).check(line) == []


@pytest.mark.parametrize(("raw", "reason"), [
    ("- Jullie hebben toch wel een chef of zo?\n- Nee, nee, luister.", "list markup"),
    ("1. Ik wil mijn pakket.", "list markup"),
    ("Ik wil mijn pakket.\n\nEn nu!", "several lines or paragraphs"),
    ("Nou? Medewerker: ik kijk het na.", "speaker label"),
    ("Nou? mevrouw Bakker: ik wacht.", "speaker label"),
    ("Nou? Bakker: ik wacht.", "speaker label"),  # the name without its honorific is a label too
])
def test_markup_is_rejected(raw, reason):
    assert reason in check("counter", "nl").markup(raw)


def test_speech_with_a_colon_is_not_a_speaker_label():
    assert check("counter", "nl").markup("Luister: ik wil mijn pakket. Kijk: hier is de code.") == []


def test_amounts_and_word_forms():
    assert amounts("€1.184 en 430 euro, €45") == {"1184", "430", "45"}
    assert normalise("pakketten", "nl") == "pakket" and normalise("rekeningen", "nl") == "rekening"
    assert normalise("cars", "en") == "car" and normalise("bus", "en") == "bus"
