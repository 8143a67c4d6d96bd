"""Words for the summariser: content words of any script, stop words and stems (pure)."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*")
STOPWORDS = frozenset(
    """
    a an the and or but of to in on at by for with from as is are was were be been being has
    have had do does did not no it its this that these those he she they them his her their we
    our you your i me my which who whom whose what when where why how all any both each few more
    most other some such only own same so than too very can will just should now also said says
    would could may might must shall about into over after before between under again further
    then once there here out up down off above below per mr ms mrs
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней
    для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того
    потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем
    всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про
    всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том
    нельзя такой им более всегда конечно всю между также это года году
    және мен бен пен үшін бұл осы деп бойынша туралы да де ол олар жылы сондай-ақ болып болды
    тиіс бар жоқ еді емес қана ғана әр барлық оның олардың біз сіз бір екі арқылы кейін дейін
    """.split()
)


def tokens(sentence: str) -> Counter[str]:
    """Content words, lower-cased and cut to a stem-like prefix (works for Cyrillic too)."""
    counts: Counter[str] = Counter()
    for word in WORD.findall(sentence.casefold()):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        counts[word[:6] if word.isalpha() else word] += 1
    return counts
