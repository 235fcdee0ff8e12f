"""Write the tiny instruction example: a pool of 16 instruction–response records of mixed quality and an
evaluation set of 4 (stdlib only, deterministic: running it rewrites the same bytes).

Good records answer the instruction fully; weak ones are terse, off-topic or copy the instruction back.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20241208)

FACTS = [
    ("water", "boils at 100 degrees Celsius at sea level and freezes at 0 degrees"),
    ("the moon", "orbits the Earth about every 27 days and has no atmosphere to speak of"),
    ("a triangle", "has three sides, and its interior angles always add up to 180 degrees"),
    ("photosynthesis", "lets plants turn light, water and carbon dioxide into sugar and oxygen"),
    ("a prime number", "has exactly two divisors: one and itself"),
    ("the heart", "pumps blood through the body, about seventy times a minute at rest"),
    ("a verb", "is a word that names an action or a state, such as run or be"),
    ("rain", "forms when water vapour condenses into droplets heavy enough to fall"),
    ("a budget", "is a plan that matches expected income against planned spending"),
    ("gravity", "pulls masses toward each other and keeps the planets in their orbits"),
]


def arithmetic(i):
    a, b = rng.randint(12, 99), rng.randint(3, 40)
    return (f"A shop sells {a} apples in the morning and {b} in the afternoon. How many apples does it sell "
            "in total?", f"It sells {a} + {b} = {a + b} apples in total.")


def explain(i):
    topic, fact = FACTS[i % len(FACTS)]
    return f"Explain briefly what {topic} is.", f"{topic[0].upper() + topic[1:]} {fact}."


def weak(instruction, output, kind):
    if kind == "terse":
        return output.split()[0]
    if kind == "echo":
        return instruction
    return "I like turtles."


def records(n, start, weak_share):
    out = []
    for i in range(start, start + n):
        instruction, output = (arithmetic if i % 2 else explain)(i)
        quality = "good"
        if rng.random() < weak_share:
            quality = rng.choice(["terse", "echo", "off-topic"])
            output = weak(instruction, output, quality)
        out.append({"id": f"i{i:03d}", "instruction": instruction, "output": output, "quality": quality})
    return out


def write(name, rows):
    with open(HERE / name, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("pool.jsonl", records(16, 0, 0.3))
    write("eval.jsonl", [{k: v for k, v in r.items() if k != "quality"} for r in records(4, 100, 0.0)])
