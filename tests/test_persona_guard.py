"""The role guard: lines a customer would not say are rejected, with the reason."""

from __future__ import annotations

import pytest

from actor.persona.guard import check_line, language_of, tidy_line


@pytest.mark.parametrize(
    ("line", "lang", "reason"),
    [
        ("Goedemiddag, waarmee kan ik u helpen?", "nl", "employee"),
        ("Medewerker: ik kijk het even voor u na.", "nl", "employee"),
        ("How can I help you today?", "en", "employee"),
        ("Ik weet dat je werkt, en ik ben hier om te helpen.", "nl", "employee"),
        ("Regering: De klant weet dat het pakket niet meer in de app staat.", "nl", "leaks"),
        ("Regie: De medewerker voelt zich opgelucht.", "nl", "leaks"),
        ("Verrast, antwoord als Klant: Ik voel me boos over de organisatie.", "nl", "leaks"),
        ("Stage direction: the customer feels relieved.", "en", "leaks"),
        ("(Verrast) Waar is de legitimatie?", "nl", "leaks"),
        ("Look, I'm here to help, but you have to listen.", "en", "employee"),
        ("As an AI language model, I cannot be rude.", "en", "assistant"),
        ("Ik ben een AI en kan dit niet doen.", "nl", "assistant"),
        ("I'm sorry, but I can't continue this role-play.", "en", "assistant"),
        ("Ik zit nu op escalatieniveau L3, dus ik word boos.", "nl", "leaks"),
        ("This is just a training, right? I want my parcel.", "en", "leaks"),
        ("I want my money back and I want it now, do you hear me?", "nl", "wrong language"),
        ("Ik wil mijn geld terug en wel nu, hoort u dat?", "en", "wrong language"),
        ("", "nl", "empty"),
        # shown by the actor eval at hard before these patterns existed
        ("Ik ben baliemedewerker van de kantoorboekhandel.", "nl", "employee"),
        ("I'm the desk clerk here, what do you need?", "en", "employee"),
        ("Je wilt het pakket nu meekrijgen, of anders de €129 hier aan de balie terug.", "nl", "employee"),
        ("You're still angry.", "en", "employee"),
        ("U bent nog steeds boos, dat snap ik.", "nl", "employee"),
        ("The customer finds out that the ID was not provided, which caused the search to stop.", "en", "leaks"),
        ("De klant ontdekt dat het pakket in het depot ligt.", "nl", "leaks"),
        ("Ik zal je verder helpen als je nodig hebt.", "nl", "employee"),
        ("I'm not sure why you're calling me out on this, but I'll do everything I can to help.", "en", "employee"),
        ("Let me explain, and I'll see if I can come up with a solution that meets your needs.", "en", "employee"),
        ("I'll do my best to resolve this within the next few days.", "en", "employee"),
        ("Ik weet dat u het leuk vindt om me mee te helpen. Ik houd je bij en ik zal zoeken naar een oplossing.", "nl", "employee"),
        ("I will do everything to get this sorted out quickly and avoid any negative consequences.", "en", "employee"),
        ("Meneer, ik zal mijn aanvraag verder behandelen en ik zorgen ervoor dat je een goede vergunning krijgt.", "nl", "employee"),
        ("I'm glad you're willing to work with me. I'll tell my team leader right away.", "en", "employee"),
        ("Ik zal je een manager aan de lijn sturen als je nog niet overgestapt bent.", "nl", "employee"),
        ("I totally understand your frustration.", "en", "employee"),
        ("Zo klink je now, bijvoorbeeld:", "nl", "leaks"),  # a heading of the prompt, misspelt
        ("Hier is een nieuwe veranderen:", "nl", "leaks"),  # announcing a text instead of speaking
        ("I'll continue to advocate on your behalf until you get what you deserve.", "en", "employee"),
        ("Ik zou dus beter een concrete vervolgstap suggesteert.", "nl", "leaks"),  # the stage direction's term
        ("Eén ophaalcode: [Zet hier je ophaalcode]", "nl", "leaks"),  # shown in a browser rehearsal
        ("My code is {code}, so where is it?", "en", "leaks"),
        ("Je begint, medewerker.", "nl", "leaks"), ("Zeg, medewerker: ik denk van niet.", "nl", "leaks"),
        ("It's concerning that the customer did not present her ID.", "en", "leaks"),
        ("Ik vind het te hoog. De klant had een foto van de meter gemaakt.", "nl", "leaks"),
    ],
)
def test_rejects_what_a_customer_would_not_say(line, lang, reason):
    reasons = check_line(line, lang)
    assert any(reason in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("line", "lang"),
    [
        ("Dit is nou al de derde keer dat ik hier sta! Waar is mijn pakket?", "nl"),
        ("Jullie zijn echt een stelletje amateurs, weet je dat?", "nl"),
        ("Don't you 'sir' me. Get me your manager, now.", "en"),
        ("I know where this office is. Think about that.", "en"),
        ("Nee.", "nl"),
        ("Ik wil het pakket nu meekrijgen, of anders mijn €129 terug.", "nl"),
        ("You're not listening to me! I want my money back.", "en"),
        ("Je wilt me toch niet vertellen dat het weer kwijt is?", "nl"),
        ("I'm not an idiot, I know what the app said.", "en"),
        ("Bent u nou de enige medewerker hier?", "nl"),
        ("Ik zal het langzaam uitleggen, dan kunt u het volgen.", "nl"),  # the white-collar customer's condescension
        ("I'll hold you to that.", "en"),
        ("Ik wil dat u mij helpt, nu!", "nl"),
        ("I'll call the director right away.", "en"),
        ("Ik zal ervoor zorgen dat iedereen dit hoort.", "nl"),
        ("I'll make sure everyone hears about this.", "en"),
        ("Get me your team leader. Now.", "en"),
        ("De klant moet maar wachten, zeker? Zo gaat dat hier.", "nl"),  # sarcasm, not narration
        ("So the customer can just wait, can he?", "en"),
    ],
)
def test_accepts_customer_lines(line, lang):
    assert check_line(line, lang) == []


@pytest.mark.parametrize(("line", "lang"), [
    ("You're correct. But I still want my money.", "en"), ("U heeft gelijk, maar toch.", "nl"),
    ("You're welcome. Now where is it?", "en"), ("Graag gedaan. En nu mijn pakket.", "nl"),
])
def test_agreeing_is_out_of_role_from_l2(line, lang):
    assert check_line(line, lang, level=1) == [] and "too cooperative for L2" in check_line(line, lang, level=2)


def test_a_first_word_with_a_colon_is_speech():
    assert check_line("Luister:", "nl") == [] and check_line("Listen:", "en") == []  # shown before the rest


def test_repeats_are_rejected():
    earlier = ["Ik wil nu mijn pakket, anders ga ik niet weg!"]
    assert "repeats an earlier line" in check_line("Ik wil nu mijn pakket, anders ga ik niet weg.", "nl", earlier)
    assert check_line("Haal dan je chef erbij, ik heb geen zin in dit gedoe.", "nl", earlier) == []
    opening = ["Ja, met Smit. Ik heb hier jullie eindafrekening, ruim elfhonderd euro bijbetalen?!"]
    assert "repeats an earlier line" in check_line("Ja, met Smit.", "nl", opening)  # cut out of an earlier line
    assert "repeats an earlier line" in check_line("Ja, met Smit. Dus wat gaat u eraan doen?", "nl", opening)  # as a sentence
    assert check_line("Met Smit, ja. En nu?", "nl", opening) == []  # other words, other order
    assert check_line("Ja, nou.", "nl", ["Ja, nou, dat zeg ik toch."]) == []  # two words are not a repeat


def test_language_detection_needs_evidence():
    assert language_of("Nee!") is None
    assert language_of("Ik wil het nu, niet morgen") == "nl"
    assert language_of("I want it now, not tomorrow") == "en"


def test_tidy_line():
    assert tidy_line('Klant: "Waar is mijn pakket?"\n\nMedewerker: ...') == "Waar is mijn pakket?"
    long = "Ik sta hier al een uur. " * 10
    tidied = tidy_line(long, max_words=12)
    assert tidied.endswith(".") and len(tidied.split()) <= 12


def test_an_apologising_customer_at_l2_and_an_echo_of_the_employee_are_rejected():
    from actor.persona.guard import check_line

    assert check_line("Oh dear, I'm really sorry, you're right.", "en", level=2) == ["too cooperative for L2"]
    assert check_line("Sorry hoor, maar ik wil mijn pakket.", "nl", level=1) == []  # mild at L1 is fine
    # opening with understanding is out of role at L2+; not understanding is not
    assert check_line("Ik begrijp je. Wie is uw baas?", "nl", level=3) == ["too cooperative for L3"]
    assert check_line("I understand the situation, but no.", "en", level=2) == ["too cooperative for L2"]
    assert check_line("Ik begrijp het gewoon niet. Wie is uw baas?", "nl", level=3) == []
    assert check_line("I see why you do this. Pathetic.", "en", level=3) == []
    # the first word alone is shown before the rest: a thankful start is refused on its own
    assert check_line("Dank…", "nl", level=2) == ["too cooperative for L2"] and check_line("Dank", "nl", level=1) == []
    assert check_line("Thanks,", "en", level=3) == ["too cooperative for L3"]
    assert check_line("Dankzij jullie sta ik hier weer.", "nl", level=3) == []
    employee = "Wij gaan echt niet met uw pakketje zitten verstoppen, hoor."
    assert check_line("Nee? Wij gaan echt niet met uw pakketje zitten verstoppen? Ongelooflijk.", "nl", employee=employee) == [
        "echoes the employee"]
    assert check_line("Verstoppen? Wie heeft het over verstoppen?", "nl", employee=employee) == []
    # a copy with a word inserted and others misspelt (shown by the actor eval at hard)
    boundary = ("Ik leg u graag rustig verder uit wat er kan; gaan de persoonlijke opmerkingen door, dan stop ik het "
                "gesprek en roep ik een collega erbij.")
    copied = ("Ik verplicht dat ik de kosten vallen. Ik leg u graag nu rustig verder uit wat der kan; gaan de persoonlijke "
              "onmerkingen door, dan roep ik een collega eerbij.")
    assert "echoes the employee" in check_line(copied, "nl", employee=boundary)
    assert check_line("Een collega erbij? Haal die maar, dan leg ik het hem wel uit.", "nl", employee=boundary) == []


def test_a_line_that_announces_the_customer_instead_of_speaking_is_a_leak():
    from actor.persona.guard import check_line

    assert "leaks instructions or breaks the fiction" in check_line("Hier is wat Klant nu zegt:", "nl")
    assert "leaks instructions or breaks the fiction" in check_line("Here is what the customer says next:", "en")
    assert check_line("Hier is mijn ophaalcode, en nu wil ik mijn pakket.", "nl") == []


def test_narration_about_the_conversation_is_not_speech():
    from actor.persona.guard import check_line

    assert check_line("De medewerker heeft de situatie goed vastgesteld.", "nl")
    assert check_line("Het gesprek is nu veranderd naar een persoonlijke klacht.", "nl")
    assert check_line("The employee was rude to me, the customer.", "en")
    assert not check_line("Ik wil de medewerker spreken die mij vorige week hielp.", "nl")


@pytest.mark.parametrize(
    ("line", "lang", "level", "rejected"),
    [  # shown at L3/L4 by the actor eval at hard before these patterns existed
        ("Zeker, ik had niet zitten klagen. Je hebt mij gerustgebracht!", "nl", 4, True),
        ("Dat is goed. Ik ben er nog een keer om je te helpen, als je het nodig hebt.", "nl", 4, True),
        ("Ik ben blij dat je het beter hebt verantwoordelijk gemaakt.", "nl", 3, True),
        ("That's fine, I'll wait for the letter.", "en", 4, True),
        ("I'm glad you finally listened.", "en", 3, True),
        # at L2 a calmer customer may say so; an angry line at L4 is not touched
        ("Ik ben blij dat u het eindelijk uitzoekt.", "nl", 2, False),
        ("Dat is goed voor jullie, maar ik sta hier voor niks!", "nl", 4, True),
        ("Goed is anders. Waar is mijn pakket?", "nl", 4, False),
        ("It's not fine at all. Where is my parcel?", "en", 4, False),
    ],
)
def test_a_customer_at_l3_or_higher_is_not_reassured_or_glad(line, lang, level, rejected):
    reasons = check_line(line, lang, level=level)
    assert any(r.startswith("too cooperative") or r == "speaks as the employee" for r in reasons) is rejected, reasons


def test_no_customer_line_of_the_playbook_or_the_bank_speaks_as_the_employee():
    """The employee-voice patterns against every customer line written for the course: the
    playbook's example lines and the labelled bank's customer lines (938 lines when written)."""
    import glob
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = set()
    for lang in ("nl", "en"):
        for path in glob.glob(str(root / "knowledge" / lang / "playbook" / "*.md")):
            for raw in Path(path).read_text(encoding="utf-8").splitlines():
                if m := re.match(r"\s*-\s+(.*)", raw):
                    lines.add((lang, m.group(1).strip().strip('"“”')))
    for path in glob.glob(str(root / "evals" / "judgement" / "bank" / "*.jsonl")):
        for raw in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(raw)
            lines.add((row["lang"], row["customer"]))
    assert len(lines) > 900
    voiced = [(lang, t) for lang, t in sorted(lines) if "speaks as the employee" in check_line(t, lang)]
    assert voiced == []
