"""One actor turn with fake models: tactic choice, prompt, guard, regeneration, fallback."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.knowledge import load_corpus
from actor.persona.actor import TACTICS, Actor, Utterance, pick_tactic, playbook_level, playbook_lines
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def bi(nl: str, en: str) -> dict:
    return {"nl": nl, "en": en}


SCENARIO = Scenario.model_validate({
    "id": "counter",
    "title": bi("Het kwijte pakket", "The missing parcel"),
    "briefing": bi("Je werkt aan de balie.", "You work at the counter."),
    "setting": bi("Een servicepunt in een winkel.", "A service point in a shop."),
    "employee_role": bi("de baliemedewerker", "the counter clerk"),
    "customer": {
        "name": bi("meneer Bakker", "Mr Baker"),
        "profile": bi("Een drukke ondernemer.", "A busy business owner."),
        "wants": bi("Ik wil gewoon mijn pakket.", "I just want my parcel."),
        "hidden_facts": [{"fact": bi("Hij had geen ID bij zich.", "He had no ID."), "ask_about": bi("legitimatie", "ID")}],
    },
    "opening_line": bi("Derde keer dat ik hier sta!", "Third time I'm here!"),
    "difficulties": {d: {"start_level": 1, "aggression_type": "frustration", "good_moves_to_deescalate": 1,
                         "escalation_step": 1, "pressure_after": 2} for d in ("easy", "medium", "hard")},
})


class FakeRetriever:
    def __init__(self):
        self.calls = []

    def query(self, text, **facets):
        self.calls.append(facets)

        class Hit:
            text = "Titel — L1\n\n- Jullie raken altijd alles kwijt.\n- Ik sta hier nu al een half uur!\n- Waar is mijn pakket nou?"
        return [Hit()]


class Exploding(FakeListChatModel):
    def _call(self, *args, **kwargs):
        raise TimeoutError("model timed out")

    def _stream(self, *args, **kwargs):
        raise TimeoutError("model timed out")
        yield


STATE = PersonaState(level=1, aggression_type="frustration", turn=1)
HISTORY = [Utterance("customer", "Derde keer dat ik hier sta!"), Utterance("employee", "Wat vervelend. Wat is er gebeurd?")]


def test_a_good_line_is_used_as_is():
    model = FakeListChatModel(responses=['Klant: "Ik heb al twee keer voor niks gestaan, dat is er gebeurd."'])
    line = Actor(model, SCENARIO, "nl", FakeRetriever()).reply(HISTORY, STATE)
    assert line.path == "model" and line.text == "Ik heb al twee keer voor niks gestaan, dat is er gebeurd."
    assert line.tactic == pick_tactic(STATE) and len(line.prompt_sha256) == 64


def test_a_line_in_the_wrong_role_is_regenerated():
    model = FakeListChatModel(responses=["Goedemiddag, waarmee kan ik u helpen?", "Mijn pakket, dat is er gebeurd. Nou?"])
    line = Actor(model, SCENARIO, "nl", FakeRetriever()).reply(HISTORY, STATE)
    assert line.path == "regenerated"
    assert line.rejected[0][1] == ["speaks as the employee"]


def test_falls_back_to_an_unused_playbook_line():
    model = FakeListChatModel(responses=["As an AI I cannot do this."] * 3)
    history = HISTORY + [Utterance("customer", "Jullie raken altijd alles kwijt!")]
    line = Actor(model, SCENARIO, "nl", FakeRetriever()).reply(history, STATE)
    assert line.path == "fallback" and len(line.rejected) == 3
    assert line.text == "Ik sta hier nu al een half uur!"


def test_a_failing_model_still_gives_a_line():
    line = Actor(Exploding(responses=["x"]), SCENARIO, "en", None).reply(HISTORY, STATE)
    assert line.path == "fallback" and line.text == "I just want my parcel."
    assert line.rejected[0][1] == ["model error: TimeoutError"]


def test_prompt_carries_role_examples_and_transcript():
    retriever = FakeRetriever()
    actor = Actor(FakeListChatModel(responses=["x"]), SCENARIO, "nl", retriever)
    examples = actor.examples("vent", STATE)
    system, user = actor.messages(HISTORY, STATE, "vent", examples)
    assert "Je speelt meneer Bakker" in system.text and "- Ik sta hier nu al een half uur!" in user.text
    assert "Klant: Derde keer dat ik hier sta!\nMedewerker: Wat vervelend." in user.text
    assert retriever.calls[0] == {"k": 3, "per_document": None, "lang": "nl", "kind": "playbook",
                                  "aggression_type": "frustration", "level": 1, "tactic": "vent"}


def test_the_prompt_of_the_next_turn_starts_with_this_turn_s_prompt():
    """Only the end of the prompt changes per turn, so llama.cpp can reuse the cached prefix."""
    actor = Actor(FakeListChatModel(responses=["x"]), SCENARIO, "nl", FakeRetriever())
    now = actor.messages(HISTORY, STATE, "vent", ["Jullie raken alles kwijt."])
    later_history = HISTORY + [Utterance("customer", "Nou?"), Utterance("employee", "Ik zoek het uit.")]
    later = actor.messages(later_history, PersonaState(level=2, aggression_type="frustration", turn=2), "insult", ["Sukkel."])
    assert later[0].text == now[0].text
    transcript_now = now[1].text.split("\n\n")[0]
    assert later[1].text.startswith(transcript_now) and "Sukkel." in later[1].text


def test_opening_is_scripted():
    line = Actor(FakeListChatModel(responses=["x"]), SCENARIO, "en").opening()
    assert (line.text, line.path) == ("Third time I'm here!", "scripted")


def test_tactics_rotate_and_follow_the_demand():
    tactics = {pick_tactic(PersonaState(level=2, aggression_type="instrumental", turn=t)) for t in range(4)}
    assert tactics == set(TACTICS["instrumental"][2])
    assert pick_tactic(PersonaState(level=2, aggression_type="instrumental", demand="escalated", turn=3)) == "repeat_demand"


def test_every_tactic_in_the_table_has_playbook_lines_at_that_level():
    docs = [d for d in load_corpus(KNOWLEDGE) if d.meta.kind == "playbook"]
    for kind, by_level in TACTICS.items():
        for level, tactics in by_level.items():
            want = playbook_level(PersonaState(level=level, aggression_type=kind))
            for tactic in tactics:
                assert any(kind in d.meta.types and d.meta.tactic == tactic and d.meta.levels[0] <= want <= d.meta.levels[1]
                           for d in docs), (kind, level, tactic)


def test_playbook_lines_are_the_bullets():
    assert playbook_lines(["Titel\n\n- Een.\n- Twee?\nGeen bullet"]) == ["Een.", "Twee?"]


def test_streaming_holds_back_a_broken_draft_and_shows_the_good_one():
    model = FakeListChatModel(responses=["Employee: how can I help you today, sir, what is it?",
                                         "I have been here three times already, so where is my parcel now?"])
    items = list(Actor(model, SCENARIO, "en", FakeRetriever()).stream(HISTORY, STATE))
    shown, line = items[:-1], items[-1]
    assert all("help you" not in t for t in shown), "the employee-voiced draft must never be shown"
    assert shown[-1] == line.text == "I have been here three times already, so where is my parcel now?"
    assert len(shown) > 2 and all(shown[i + 1].startswith(shown[i]) for i in range(len(shown) - 2))
    assert line.path == "regenerated" and not line.replaced_after_display


def test_a_late_slip_is_replaced_after_display_and_recorded():
    late = "I want my parcel and I want it now, and by the way as an AI language model I cannot"
    model = FakeListChatModel(responses=[late, "Just give me my parcel, I have waited long enough!"])
    items = list(Actor(model, SCENARIO, "en", FakeRetriever()).stream(HISTORY, STATE))
    assert any(t.startswith("I want my parcel") for t in items[:-1])
    assert items[-1].text == "Just give me my parcel, I have waited long enough!" and items[-1].replaced_after_display


def test_the_transcript_window_is_bounded_and_moves_in_blocks():
    from actor.persona.actor import transcript_window

    history = [Utterance("customer" if i % 2 == 0 else "employee", f"line {i}") for i in range(40)]
    sizes, starts = [], []
    for n in range(1, 41):
        shown = transcript_window(history[:n])
        sizes.append(len(shown))
        assert shown[0].text == "line 0" and shown[-1].text == f"line {n - 1}"
        starts.append(shown[2].text if len(shown) > 2 and shown[1].text == "…" else None)
    assert max(sizes) <= 13 and sizes[:12] == list(range(1, 13))
    moved = [i for i in range(1, 40) if starts[i] != starts[i - 1]]
    assert all(b - a >= 6 for a, b in zip(moved, moved[1:])), "the window start must not move every turn"


def test_the_prefill_prompt_is_the_start_of_the_next_turn_s_prompt():
    actor = Actor(FakeListChatModel(responses=["x"]), SCENARIO, "nl", FakeRetriever())
    system, head = actor.prefill_messages(HISTORY)
    later = HISTORY + [Utterance("employee", "Ik kijk het na.")]
    full = actor.messages(later, STATE, "vent", ["Nou?"])
    assert system.text == full[0].text and head.text.endswith("\nMedewerker:")
    assert full[1].text.startswith(head.text)  # llama.cpp reuses it as a cached prefix
