"""What the 公示 tests share: an officer's headers, an objection's body."""

from shared.testing import auth
from tests.conftest import TOWNSHIP

OBJECTION = {"contact_name": "王大妈", "contact_phone": "13812345678", "content": "马文军家去年新盖了砖房，还买了小汽车。"}


def officer(token, role="township_officer", region=TOWNSHIP, sub="u-town"):
    return auth(token(role, region, sub=sub))
