"""The orjson-rendered answer says exactly what Starlette's JSONResponse says, so a client sees no difference."""

from starlette.responses import JSONResponse

from shared.responses import FastJSONResponse


def test_the_same_text_as_the_standard_encoder():
    body = {"household_no": "6401221000010001", "head_name": "马文军", "members": [
        {"id": 9_007_199_254_740_993, "in_school": False, "phone": None, "health": "长期慢性病"}],
        "amount": "1200.00", "share": 0.25, "by_year": {2020: 3}, "empty": [], "quote": 'a "b" \\ c\n'}
    assert FastJSONResponse(body).body == JSONResponse(body).body
    assert FastJSONResponse(body).headers["content-type"] == "application/json"
