"""Generate the support-tickets example: a noisy pool, a clean test set, a target set and an answer key.

Stdlib only, fixed seed: running it again rewrites byte-identical files next to this script.

    python examples/support-tickets/make_data.py

Writes pool.jsonl (with planted defects), test.jsonl (clean), target.jsonl (technical + account messages) and
pool_truth.jsonl (one line per planted defect: line, id, defect, true label, given label).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20240611
HERE = Path(__file__).resolve().parent
LABELS = ("billing", "shipping", "technical", "account")
SHARE = {"billing": 0.35, "shipping": 0.25, "technical": 0.25, "account": 0.15}
N_POOL_BASE, N_TEST = 546, 300
N_WRONG, N_EXACT_DUP, N_NEAR_DUP, N_JUNK = 72, 12, 24, 18
TARGET_COUNTS = {"technical": 22, "account": 18}
SECOND_ISSUE = 0.2
BAD_LINE_AT = (57, 143, 288, 401, 530)  # 1-based line numbers in pool.jsonl
# the label a tired annotator reaches for instead of the right one
CONFUSION = {"billing": ("account", "shipping"), "shipping": ("billing", "technical"),
             "technical": ("account", "shipping"), "account": ("billing", "technical")}

SLOTS = {
    "product": ["the Aero 2 headphones", "my Nimbus X router", "the Pixel Dock", "the SmartKettle Pro",
                "the Orbit smartwatch", "a Lumen desk lamp", "the TrailCam 4K", "the Vela e-reader",
                "the Halo video doorbell", "the StreamBox Mini", "the FitBand 3",
                "the Kairo espresso machine",
                "two Echo-Lite speakers", "the PowerCell 20000 battery pack", "the Atlas robot vacuum"],
    "plan": ["Basic", "Plus", "Pro", "Family", "Business", "Premium"],
    "carrier": ["UPS", "FedEx", "DHL", "USPS", "Royal Mail", "the local courier", "DPD", "Canada Post"],
    "device": ["iPhone 13", "Galaxy S22", "Windows 11 laptop", "MacBook Air", "iPad", "Chromebook",
               "Pixel 7", "Android tablet", "work PC"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge"],
    "app": ["the app", "the website", "the desktop client", "the companion app", "the web dashboard"],
    "country": ["Canada", "Germany", "Ireland", "Australia", "Mexico", "Norway", "the UK", "Japan", "Brazil"],
    "date": ["March 3", "Monday", "the 14th", "June 2", "Friday", "the 1st of the month", "Oct 28",
             "the 9th"],
    "when": ["last Monday", "two weeks ago", "yesterday", "on Friday", "this morning", "last month",
             "on March 3"],
    "name": ["Dana", "Luis", "Priya", "Tom", "Mei", "Olga", "Sam", "Aisha", "Jonas", "Chloé", "Rahul"],
    "promo": ["SPRING20", "WELCOME10", "FREESHIP", "VIP15", "BLACKFRIDAY"],
}


def _amount(rng):
    currency, whole = rng.choice(["$", "$", "$", "€", "£"]), rng.randint(4, 420)
    return f"{currency}{whole}.{rng.choice(['00', '99', '49', '95'])}"


def _order(rng):
    return rng.choice(["#", "#", "order ", "no. ", "A-"]) + str(rng.randint(100000, 999999))


def _code(rng):
    return rng.choice([f"E{rng.randint(100, 999)}",
                       f"ERR_{rng.choice(['CONN', 'AUTH', 'SYNC', 'TIMEOUT'])}_{rng.randint(1, 99)}",
                       f"0x8007{rng.randint(1000, 9999)}", f"{rng.choice([500, 502, 503, 401, 403, 429])}",
                       f"code {rng.randint(1000, 1999)}"])


DYNAMIC = {"amount": _amount, "amount2": _amount, "order": _order, "code": _code,
           "days": lambda r: str(r.randint(3, 21)), "pct": lambda r: str(r.randint(12, 97)),
           "hours": lambda r: str(r.randint(2, 9)), "years": lambda r: str(r.randint(2, 12)),
           "plan2": lambda r: r.choice(SLOTS["plan"])}

MAIN = {
    "billing": [
        "I was charged {amount} twice for {order}. Please refund the duplicate charge.",
        "Why did my card get billed {amount} when the {plan} plan is supposed to cost less?",
        "I cancelled my subscription on {date} but you still took {amount} this month.",
        "Can I get an invoice with our company VAT number on it for {order}?",
        "The promo code {promo} didn't apply at checkout and I paid full price ({amount}).",
        "I returned {product} {days} days ago and still haven't seen the refund of {amount}.",
        "How do I change the credit card that pays for my {plan} subscription?",
        "My payment keeps getting declined even though the card works everywhere else.",
        "There is a charge of {amount} on my statement from {date} that I don't recognise.",
        "Do you offer monthly instalments for {product}? Paying {amount} up front is a lot.",
        "Please explain the {amount} late fee on my last bill, I paid on time.",
        "You promised to price match {product}; the difference is {amount}, when do I get it back?",
        "I upgraded from {plan} to {plan2} mid-month. Was I prorated correctly? The bill says {amount}.",
        "I need a receipt for {order} for my expense report.",
        "Refund status please. {order}, {amount}.",
        "You charged sales tax on an order that shipped to a tax-exempt address.",
        "Can you switch me to annual billing and credit what's left of this month?",
        "I was charged {amount} for shipping even though the order qualified for free delivery.",
        "My gift card balance wasn't used on {order}, the whole {amount} went on my card.",
        "My bank says no refund was ever issued. Can you send the transaction reference?",
        "I'm being billed for a {plan} plan I never signed up for.",
        "The invoice is in USD but I'm in {country} and want to pay in my own currency.",
        "I got a payment failed email but the money ({amount}) left my account anyway.",
        "Your renewal charged me {amount} without any reminder email. I want that reversed.",
        "Is there a student or nonprofit discount on the {plan} plan?",
        "The order total at checkout was {amount} but my card was charged {amount2}.",
        "Please stop auto-renewing my subscription and refund today's charge of {amount}.",
    ],
    "shipping": [
        "My order {order} was supposed to arrive {days} days ago and the tracking hasn't moved.",
        "{carrier} says it was delivered but there is nothing at my door.",
        "Can I change the delivery address for {order}? I just moved.",
        "The box arrived crushed and {product} inside is dented.",
        "Do you ship to {country}, and how long does it usually take?",
        "I ordered {product} but the package had something else in it.",
        "The tracking number for {order} says 'not found' on the {carrier} site.",
        "Can I pick the order up from a store instead of having it delivered?",
        "Only one of my two packages showed up, the other part of {order} is missing.",
        "How long does express delivery to {country} take?",
        "My parcel has been stuck in customs for {days} days. Who do I contact?",
        "The courier left {product} outside in the rain, the box is soaked.",
        "When will {product} be back in stock so my backorder can ship?",
        "I need {product} before {date}. Can you send it overnight?",
        "How do I send {product} back? I never got a return label.",
        "{carrier} keeps rescheduling my delivery, it's been {days} days now.",
        "The driver couldn't find my building and took the parcel back to the depot.",
        "It says 'label created' since {date}, has my order even left the warehouse?",
        "Can you hold {order} at the {carrier} pickup point near me?",
        "My order was split into two shipments and the second one never came.",
        "The address label on {order} has the wrong postcode, please fix it before it ships.",
        "I was out when {carrier} came. Can they try again tomorrow?",
        "{product} arrived without the charger that should be in the box.",
        "Is it possible to combine my two open orders into one delivery?",
        "Why does my order show shipped on {date} when {carrier} has no record of it?",
    ],
    "technical": [
        "{product} won't connect to wifi, it shows error {code}.",
        "{app} crashes every time I open settings on my {device}.",
        "The firmware update stopped at {pct}% and now {product} won't turn on.",
        "I keep getting error {code} when I try to sync.",
        "Bluetooth pairing between {product} and my {device} keeps dropping.",
        "The checkout page on {app} is just blank in {browser}.",
        "Since the last update the battery on {product} dies in {hours} hours.",
        "Notifications from {app} stopped working on my {device}.",
        "{product} makes a clicking noise and restarts on its own.",
        "How do I factory reset {product}? The manual isn't clear.",
        "The screen on {product} flickers when brightness is below half.",
        "{app} is stuck on the loading spinner after I sign in on {device}.",
        "Your API returns {code} for every request since this morning.",
        "Voice commands don't work anymore, {product} just beeps.",
        "The export to CSV button in {app} does nothing in {browser}.",
        "Setup fails at step 3 with {code}; I've tried three times on my {device}.",
        "The video from {product} lags about {days} seconds behind real time.",
        "{product} doesn't show up in {app} even though the light is blinking blue.",
        "After updating my {device} the app won't open at all.",
        "Is {product} compatible with the {device}? It doesn't detect it.",
        "The touch controls on {product} respond randomly.",
        "Downloads in {app} fail at {pct}% every time.",
        "{product} overheats after about {hours} hours of use.",
        "The dashboard charts in {app} are empty since the update.",
        "Offline mode doesn't work, {app} shows {code} as soon as I lose signal.",
    ],
    "account": [
        "I can't log in, it says my account is locked.",
        "How do I change the email address on my account?",
        "Please delete my account and all the data you hold on me.",
        "Someone logged into my account from {country} and it wasn't me.",
        "I have two accounts by mistake, can you merge them?",
        "How do I add my partner to our {plan} family plan?",
        "I forgot my username and the recovery email goes to an old address.",
        "I got married and need to change the name on my profile.",
        "How do I turn off the marketing emails? Unsubscribing didn't work.",
        "I lost my phone and can't get the two-factor code to log in.",
        "My account page still shows the {plan} plan but I switched to {plan2}.",
        "I'd like to close my account, please confirm once it's done.",
        "The verification email for my new account never arrived.",
        "Can I transfer my account and its history to a different email?",
        "My account was suspended with no explanation. Why?",
        "How do I remove an old {device} from the list of signed-in devices?",
        "I want to make my colleague an admin on our {plan} workspace.",
        "The password reset link says it has expired, every single time.",
        "Can you tell me what personal data you store about me?",
        "I can't update my phone number in the profile settings.",
        "Please unlink my Google login, I want to use a password instead.",
    ],
}

# requests worded with another topic's vocabulary: the label is the intent, not the keywords
HARD = {
    "billing": [
        "The app crashed halfway through checkout and I got charged {amount} anyway.",
        "My package never arrived and I want my {amount} back, not a replacement.",
        "I deleted my account last month, so why is my card still being charged?",
        "{product} broke after a week. I don't want a repair, I want my money back.",
        "Where is my money? It's been {days} days.",
        "I logged in to check my subscription and it says I owe {amount}?",
        "Delivery cost {amount} more than the site showed before I paid.",
        "The error {code} made me place the order three times and now I've paid three times.",
    ],
    "shipping": [
        "The app says my order is delivered but it isn't here.",
        "I paid extra for express and it still took {days} days.",
        "Where is it?? Ordered {when}.",
        "I can't log in to see where my parcel is, can you just tell me? {order}",
        "The replacement for my broken {product} still hasn't been sent.",
        "I was charged {amount} on {date} but nothing has been dispatched yet.",
        "Your website says out of stock now but I already paid, when does it ship?",
        "My account shows {order} as processing for {days} days. When will it go out?",
    ],
    "technical": [
        "The payment page throws {code} whenever I click pay.",
        "I can't log in, the page just reloads in {browser}.",
        "The order tracking page in {app} won't load.",
        "It stopped working again.",
        "The replacement {product} you sent has exactly the same fault.",
        "The subscription page in {app} crashes on my {device}.",
        "I can't add my card, the form freezes on {device}.",
        "The sign-in button does nothing in {app} since {date}.",
    ],
    "account": [
        "I can't sign in since the update on my {device}.",
        "Please update the billing address on my profile.",
        "Order emails go to my old address, how do I change it on my account?",
        "I still can't get in.",
        "I see orders I didn't place. Who else has access to my account?",
        "I moved to {country}, can my account be moved there too?",
        "There's a second account in my name that I never created and it's being charged.",
        "My saved cards and addresses disappeared from my profile.",
    ],
}

# background sentences: they set the scene, but the request decides the label (this is where classes overlap)
CONTEXT = {
    "billing": ["I'm on the {plan} plan.", "I paid {amount} for it.",
                "I've been paying for {plan} since {date}.",
                "I used the {promo} code when I ordered."],
    "shipping": ["I ordered {product} on {date}.", "It was delivered by {carrier}.",
                 "The order number is {order}.",
                 "It arrived {when}."],
    "technical": ["I updated {app} {when}.", "I'm using a {device}.", "I already restarted everything twice.",
                  "{app} showed {code} earlier."],
    "account": ["I changed my password {when}.", "My account email is the one I'm writing from.",
                "I've had this account for {years} years.", "I log in with my Google account."],
}
OPENERS = ["", "", "", "Hi,", "Hello,", "Hi there,", "hey", "Good morning,", "Dear support,", "Hello team,",
           "URGENT:", "Quick question:", "Hi {name} here.", "Sorry to bother you again,"]
CLOSERS = ["", "", "", "Thanks.", "Thanks in advance!", "Please fix this asap.", "Regards, {name}", "cheers",
           "This is really frustrating.", "Any help appreciated.", "I've been a customer for {years} years.",
           "Thank you!", "Please reply soon.", "- {name}", "Not happy."]


def fill(template: str, rng: random.Random) -> str:
    values: dict[str, str] = {}

    def sub(m):
        key = m.group(1)
        if key not in values:
            values[key] = DYNAMIC[key](rng) if key in DYNAMIC else rng.choice(SLOTS[key])
        return values[key]
    text = re.sub(r"\{(\w+)\}", sub, template)
    return text[0].upper() + text[1:] if text[:1].islower() and template.startswith("{") else text


def add_typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) < 4 or not w.isalpha():
            continue
        j = rng.randrange(1, len(w) - 1)
        op = rng.choice(("swap", "drop", "double"))
        words[i] = (w[:j] + w[j + 1] + w[j] + w[j + 2:] if op == "swap" else
                    w[:j] + w[j + 1:] if op == "drop" else w[:j] + w[j] + w[j:])
    return " ".join(words)


def texting_style(text: str, rng: random.Random) -> str:
    text = text.lower().replace("'", "")
    for a, b in ((" you ", " u "), ("please", "pls"), (" are ", " r "), ("thanks", "thx")):
        if rng.random() < 0.6:
            text = text.replace(a, b)
    return text.rstrip(".!")


def message(label: str, rng: random.Random) -> str:
    parts = [fill(rng.choice(HARD[label] if rng.random() < 0.25 else MAIN[label]), rng)]
    r = rng.random()
    if r < 0.45:  # background from another topic: the overlap a classifier has to see through
        other = rng.choice([x for x in LABELS if x != label])
        parts.insert(0 if rng.random() < 0.7 else 1, fill(rng.choice(CONTEXT[other]), rng))
    elif r < 0.6:
        parts.insert(0, fill(rng.choice(CONTEXT[label]), rng))
    if rng.random() < SECOND_ISSUE:  # a second, smaller issue; the ticket is filed under the first
        aside = fill(rng.choice(MAIN[rng.choice([x for x in LABELS if x != label])]), rng)
        parts.append(rng.choice(("Also, ", "And ", "Oh and ", "Separately, ")) + aside[0].lower() + aside[1:])
    opener = fill(rng.choice(OPENERS), rng) if rng.random() < 0.6 else ""
    closer = fill(rng.choice(CLOSERS), rng)
    text = " ".join(p for p in (opener, *parts, closer) if p)
    if rng.random() < 0.12:
        text = text.replace(".", "!!", 1) if rng.random() < 0.5 else text.upper()
    if rng.random() < 0.15:
        text = texting_style(text, rng)
    if rng.random() < 0.3:
        text = add_typos(text, rng)
    return text


def counts(n: int, share: dict[str, float]) -> dict[str, int]:
    c = {k: int(round(n * v)) for k, v in share.items()}
    c[max(c, key=c.get)] += n - sum(c.values())
    return c


def unique_messages(wanted: dict[str, int], rng: random.Random, seen: set[str]) -> list[tuple[str, str]]:
    out = []
    for label in LABELS:
        made = 0
        while made < wanted.get(label, 0):
            text = message(label, rng)
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            out.append((text, label))
            made += 1
    rng.shuffle(out)
    return out


def near_duplicate(text: str, rng: random.Random) -> str:
    edits = [
        lambda t: t.rstrip(".!?") if t[-1] in ".!?" else t + ".",
        lambda t: t.lower() if t != t.lower() else t.capitalize(),
        lambda t: t.replace("I ", "i ", 1) if "I " in t else t[:-1] + "!" if t.endswith(".") else t + "!",
        lambda t: t.replace(",", "", 1) if "," in t else t.replace(" ", "  ", 1),
        lambda t: re.sub(r"\b(please|Please|really|just|still|the)\b ", "", t, count=1) if re.search(
            r"\b(please|Please|really|just|still|the)\b ", t) else "Hi, " + t,
        lambda t: ("Hello" + t[2:]) if t.startswith("Hi") else t + " Thanks",
    ]
    while True:
        new = rng.choice(edits)(text)
        if new != text:
            return new


JUNK = ["asdf", "??", "test", "...", "hello?", "ok", "aaaaaaa", "qwerty", "1", ":)", "N/A", "<br>",
        "--\nSent from my iPhone", "Get Outlook for Android",
        "Best regards,\nJohn Smith\nSenior Buyer | Acme Corp\n+1 555 0100",
        "This e-mail and any attachments are confidential and intended solely for the addressee.",
        "[image: logo.png]", "sdfsdfsdf"]


def build_pool(rng: random.Random, seen: set[str]):
    base = unique_messages(counts(N_POOL_BASE, SHARE), rng, seen)
    records = [{"text": t, "label": y, "true": y, "defect": None} for t, y in base]
    for rec in rng.sample(records, N_WRONG):
        first, second = CONFUSION[rec["true"]]
        rec["label"] = first if rng.random() < 0.6 else second if rng.random() < 0.6 else \
            rng.choice([x for x in LABELS if x != rec["true"]])
        rec["defect"] = "wrong_label"
    clean = [r for r in records if r["defect"] is None]
    sources = rng.sample(clean, N_EXACT_DUP + N_NEAR_DUP)
    dups = []
    for k, src in enumerate(sources):
        exact = k < N_EXACT_DUP
        dups.append({"text": src["text"] if exact else near_duplicate(src["text"], rng),
                     "label": src["label"], "true": src["true"],
                     "defect": "exact_duplicate" if exact else "near_duplicate", "of": src})
    junk = [{"text": t, "label": rng.choice(LABELS), "true": None, "defect": "junk"} for t in JUNK[:N_JUNK]]
    records += dups + junk
    rng.shuffle(records)
    for i, rec in enumerate(records, start=1):
        rec["id"] = f"p{i:04d}"
    return records


def bad_lines(rng: random.Random, seen: set[str]) -> list[tuple[str, bytes, str | None, str | None, str]]:
    """(defect, raw line bytes, true label, given label, why curata must reject it)."""
    (t0, y0), (t1, y1), (t2, y2), (t3, y3) = unique_messages({x: 1 for x in LABELS}, rng, seen)
    latin1 = dump({"id": "p9004", "text": "Caf\u00e9 order: " + t2, "label": y2})
    latin1 = latin1.replace("\u00e9".encode(), b"\xe9")
    return [
        ("malformed_json", dump({"id": "p9001", "text": t0, "label": y0})[:-1], y0, y0, "malformed JSON"),
        ("empty_text", dump({"id": "p9002", "text": "", "label": "billing"}), None, "billing",
         "empty field `text`"),
        ("missing_label", dump({"id": "p9003", "text": t1}), y1, None,
         "missing or empty label field `label`"),
        ("invalid_utf8", latin1, y2, y2, "undecodable bytes (utf-8)"),
        ("json_array", dump(["p9005", t3, y3]), y3, y3, "expected a JSON object, got list"),
    ]


def dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def write_jsonl(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def record_line(rec: dict) -> bytes:
    return dump({"id": rec["id"], "text": rec["text"], "label": rec["label"]})


def main() -> None:
    rng = random.Random(SEED)
    seen: set[str] = set()
    pool = build_pool(rng, seen)
    test = unique_messages(counts(N_TEST, SHARE), rng, seen)
    target = unique_messages(TARGET_COUNTS, rng, seen)
    entries: list[tuple[bytes, dict]] = [(record_line(r), r) for r in pool]
    for pos, (k, bad) in zip(BAD_LINE_AT, enumerate(bad_lines(rng, seen), start=1)):
        defect, raw, true, given, why = bad
        entries.insert(pos - 1, (raw, {"id": f"p900{k}", "defect": defect, "true": true, "label": given,
                                       "why": why}))

    truth = []
    for n, (_, rec) in enumerate(entries, start=1):
        if rec["defect"]:
            row = {"line": n, "id": rec["id"], "defect": rec["defect"], "true_label": rec["true"],
                   "given_label": rec["label"]}
            if "of" in rec:
                row["duplicate_of"] = rec["of"]["id"]
            if "why" in rec:
                row["rejected_because"] = rec["why"]
            truth.append(row)

    write_jsonl(HERE / "pool.jsonl", [raw for raw, _ in entries])
    write_jsonl(HERE / "pool_truth.jsonl", [dump(r) for r in truth])
    write_jsonl(HERE / "test.jsonl", [dump({"id": f"t{i:04d}", "text": t, "label": y})
                                      for i, (t, y) in enumerate(test, start=1)])
    write_jsonl(HERE / "target.jsonl", [dump({"id": f"g{i:03d}", "text": t, "label": y})
                                        for i, (t, y) in enumerate(target, start=1)])
    defects: dict[str, int] = {}
    for r in truth:
        defects[r["defect"]] = defects.get(r["defect"], 0) + 1
    print(f"pool.jsonl: {len(entries)} lines ({len(pool)} records + {len(BAD_LINE_AT)} bad lines); "
          f"test.jsonl: {len(test)}; target.jsonl: {len(target)}; planted: {defects}")


if __name__ == "__main__":
    main()
