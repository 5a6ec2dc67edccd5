"""Dependencies the funds routers share."""

from typing import Annotated

from fastapi import Depends, Request

from shared import pii


def _cipher(request: Request) -> pii.PiiCipher:
    return pii.cipher(request.app.state.settings)


# Personal data funds keeps from the registry (heads' phones, 一卡通 accounts, borrowers' ID digests).
CipherDep = Annotated[pii.PiiCipher, Depends(_cipher)]
