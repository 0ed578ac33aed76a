"""MediaPipe's 21 hand landmarks: which index is which joint, named once for every module that reads a hand."""

from __future__ import annotations

WRIST = 0
THUMB = (1, 2, 3, 4)  # CMC, MCP, IP joints and the tip
FINGERS = ((5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))  # MCP, PIP, DIP joints and the tip
INDEX, MIDDLE, RING, PINKY = range(4)  # positions in FINGERS

THUMB_TIP = THUMB[-1]
INDEX_TIP = FINGERS[INDEX][-1]
KNUCKLES = tuple(finger[0] for finger in FINGERS)  # the four fingers' MCP joints
FINGER_TIPS = tuple(finger[-1] for finger in FINGERS)
MIDDLE_KNUCKLE = FINGERS[MIDDLE][0]
PALM = (WRIST, *KNUCKLES)  # the points that move with the hand, not with its fingers


def _chain(points: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(zip(points[:-1], points[1:], strict=True))


# The lines a hand is drawn with: thumb and fingers (the outer two from the wrist), then across the knuckles.
BONES = (
    *_chain((WRIST, *THUMB)),
    *_chain((WRIST, *FINGERS[INDEX])),
    *_chain(FINGERS[MIDDLE]),
    *_chain(FINGERS[RING]),
    *_chain((WRIST, *FINGERS[PINKY])),
    *_chain(KNUCKLES),
)
