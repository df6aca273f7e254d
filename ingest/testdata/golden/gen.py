#!/usr/bin/env python3
"""Builds the expected decoder output for every line of ../frames/<venue>.jsonl.

Written from the venue rules in shared/testdata/frames/PROTOCOLS.md, the
issues and shared/testdata/instruments/SOURCES.md, independently of the Go
decoders. Contract metadata below is copied by hand from the embedded
snapshots (embed/instruments); a symbol missing there is unknown: notional
null, basis "unknown". Float operations follow the formula order
(qty = n * size, notional = qty * price; or notional = n * size,
qty = notional / price), so results match IEEE arithmetic bit for bit.

Run: python3 gen.py  (writes <venue>.json beside this file)
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
FRAMES = os.path.join(HERE, "..", "frames")

# Binance COIN-M contractSize (USD/contract). The frames' BTCUSD_200925
# (2020) is in neither snapshot file, but Binance sizes contracts by pair and
# every BTCUSD contract in the snapshot (BTCUSD_PERP, _221230, _230331) is
# 100 USD, so the pair's size applies.
COINM = {"BTCUSD_200925": 100.0}
# OKX ctVal*ctMult and ctType from okx_swap.json / okx_futures.json (2025-05-08).
OKX = {
    "IOST-USDT-SWAP": ("linear", 1000.0),
    "APT-USDT-SWAP": ("linear", 1.0),
    "BTC-USDT-SWAP": ("linear", 0.01),
    # XRP-USD-230929 (expired 2023) is absent, but its family XRP-USD has one
    # listed member, XRP-USD-SWAP: inverse, ctVal 10 USD, ctMult 1.
    "XRP-USD-230929": ("inverse", 10.0),
    # CNPY-USDT-SWAP (listed 2026) and its family are absent: unknown.
}
# BitMEX: XBTUSD inverse, 1 USD/contract (-1e8/-1e8); XBTUSDT linear,
# 1/1e6 XBT per contract; ETHUSD quanto (USD needs an XBT price: unknown);
# TRXZ19 absent.
BITMEX = {"XBTUSD": ("inverse", 1.0), "XBTUSDT": ("linear", 1 / 1000000.0), "ETHUSD": ("quanto", None)}


def ev(symbol, side, market, qty, price, notional, basis, time_ms, flags=0):
    return dict(symbol=symbol, side=side, market=market, qty=qty, price=price,
                notional=notional, basis=basis, time_ms=time_ms, flags=flags)


def binance(line, coinm):
    f = json.loads(line)
    if "data" in f:
        f = f["data"]
    o = f["o"]
    side = {"SELL": "long", "BUY": "short"}[o["S"]]
    q = float(o["q"])
    price = float(o["ap"]) if float(o["ap"]) != 0 else float(o["p"])
    if not coinm:
        return [ev(o["s"], side, "linear", q, price, q * price, "linear", o["T"])]
    cs = COINM.get(o["s"])
    if cs is None:
        return [ev(o["s"], side, "inverse", None, price, None, "unknown", o["T"])]
    usd = q * cs
    return [ev(o["s"], side, "inverse", usd / price, price, usd, "contracts×contractSize", o["T"])]


def bybit_market(sym):
    if sym.endswith(("USDT", "USDC", "PERP")):
        return "linear"
    if sym.endswith("USD"):
        return "inverse"
    raise ValueError(sym)


def bybit(line):
    f = json.loads(line)
    d = f["data"]
    rows = d if isinstance(d, list) else [d]
    out = []
    for r in rows:
        sym = r.get("s", r.get("symbol"))
        side = {"Buy": "long", "Sell": "short"}[r.get("S", r.get("side"))]
        v = float(r.get("v", r.get("size", r.get("qty"))))
        p = float(r.get("p", r.get("price")))
        t = r.get("T", r.get("updatedTime", r.get("updateTime", r.get("time"))))
        if bybit_market(sym) == "linear":
            out.append(ev(sym, side, "linear", v, p, v * p, "linear", t))
        else:
            out.append(ev(sym, side, "inverse", v / p, p, v, "inverse", t))
    return out


def okx(line):
    f = json.loads(line)
    out = []
    for el in f["data"]:
        inst = el["instId"]
        meta = OKX.get(inst)
        market = meta[0] if meta else ("inverse" if "-USD-" in inst else "linear")
        for d in el["details"]:
            ps, s = d["posSide"], d["side"]
            side = "long" if ps == "long" or (ps == "net" and s == "sell") else "short"
            sz, px = float(d["sz"]), float(d["bkPx"])
            if meta is None:
                out.append(ev(inst, side, market, None, px, None, "unknown", int(d["ts"])))
            elif meta[0] == "linear":
                base = sz * meta[1]
                out.append(ev(inst, side, "linear", base, px, base * px, "contracts×ctVal×ctMult×price", int(d["ts"])))
            else:
                usd = sz * meta[1]
                out.append(ev(inst, side, "inverse", usd / px, px, usd, "inverse", int(d["ts"])))
    return out


def bitmex(line):
    f = json.loads(line)
    if f["action"] not in ("insert", "partial"):
        return []
    flags = 1 if f["action"] == "partial" else 0
    out = []
    for r in f["data"]:
        sym = r["symbol"]
        side = {"Sell": "long", "Buy": "short"}[r["side"]]
        n, p = float(r["leavesQty"]), float(r["price"])
        meta = BITMEX.get(sym)
        # time_ms -1 means "the frame's receive time" (BitMEX rows carry none)
        if meta is None:
            out.append(ev(sym, side, "unknown", None, p, None, "unknown", -1, flags))
        elif meta[0] == "inverse":
            usd = n * meta[1]
            out.append(ev(sym, side, "inverse", usd / p, p, usd, "inverse", -1, flags))
        elif meta[0] == "linear":
            base = n * meta[1]
            out.append(ev(sym, side, "linear", base, p, base * p, "contracts×ctVal×ctMult×price", -1, flags))
        else:
            out.append(ev(sym, side, "unknown", None, p, None, "unknown", -1, flags))
    return out


# Deribit: no instrument table offline; BTC-PERPETUAL is "reversed" (the
# get_instruments doc example), so amount is USD. Flag T: the taker
# (direction) was liquidated, sell = long; M: the maker, who took the other
# side, buy = long; MT: both, two events.
def deribit(line):
    f = json.loads(line)
    out = []
    for tr in f["params"]["data"]:
        flag = tr.get("liquidation")
        if not flag:
            continue
        taker = "long" if tr["direction"] == "sell" else "short"
        maker = "short" if taker == "long" else "long"
        sides = {"T": [taker], "M": [maker], "MT": [taker, maker]}[flag]
        usd, p = float(tr["amount"]), float(tr["price"])
        for side in sides:
            out.append(ev(tr["instrument_name"], side, "inverse", usd / p, p, usd, "inverse", tr["timestamp"]))
    return out


# Kraken Futures: type liquidation only; taker side sell = long; PI_/FI_
# 1 USD contracts (inverse), PF_/FF_ base units; trade_snapshot rows are
# backlog (flag 1).
def kraken(line):
    f = json.loads(line)
    rows, flags = ([f], 0) if f["feed"] == "trade" else (f["trades"], 1)
    out = []
    for r in rows:
        if r["type"] != "liquidation":
            continue
        sym = r.get("product_id", f.get("product_id"))
        side = {"sell": "long", "buy": "short"}[r["side"]]
        q, p = float(r["qty"]), float(r["price"])
        if sym[:3] in ("PI_", "FI_"):
            usd = q * 1.0
            out.append(ev(sym, side, "inverse", usd / p, p, usd, "inverse", r["time"], flags))
        else:
            out.append(ev(sym, side, "linear", q, p, q * p, "linear", r["time"], flags))
    return out


# Bitfinex liq:global: one event per IS_MATCH 0 row; AMOUNT sign = position
# (+ long); price LIQUIDATION_PRICE, else BASE_PRICE; USTF0-margined linear.
def bitfinex(line):
    f = json.loads(line)
    if f[1] == "hb":
        return []
    rows = f[1] if isinstance(f[1][0], list) else [f[1]]
    out = []
    for r in rows:
        if r[8] != 0:
            continue
        sym = r[4][1:] if r[4].startswith("t") else r[4]
        side = "long" if r[5] > 0 else "short"
        q = abs(r[5])
        p = r[11] if len(r) > 11 and r[11] else r[6]
        out.append(ev(sym, side, "linear", q, p, q * p, "linear", r[2]))
    return out


# Bitget: side is the position (buy = long); amount is the quote value:
# USD = amount, base = amount / price; usdt/usdc-futures linear.
def bitget(line):
    f = json.loads(line)
    market = {"usdt-futures": "linear", "usdc-futures": "linear", "coin-futures": "inverse"}[f["arg"]["instType"]]
    out = []
    for r in f["data"]:
        side = {"buy": "long", "sell": "short"}[r["side"]]
        usd, p = float(r["amount"]), float(r["price"])
        out.append(ev(r["symbol"], side, market, usd / p, p, usd, market, int(r["ts"])))
    return out


# HTX coin-margined contract_size (USD/contract): the swaps from
# htx_swap_2020-07-06.json; the delivery futures by coin from
# htx_futures_doc.json (BTC210813 100, ETH210813 10): BTC200703 and
# BTC200925 are in neither file and take their coin's size. No
# USDT-margined sizes are embedded: those frames carry amount and
# trade_turnover, the venue's own base and USDT figures.
HTX_SWAP = {"BTC-USD": 100.0, "ETH-USD": 10.0, "BSV-USD": 10.0}
HTX_FUTURES_COIN = {"BTC": 100.0, "ETH": 10.0}


def htx(line):
    f = json.loads(line)
    out = []
    for r in f["data"]:
        code = r["contract_code"]
        assert r["offset"] in ("close", "both")
        side = {"sell": "long", "buy": "short"}[r["direction"]]
        vol, px, t = float(r["volume"]), float(r["price"]), r["created_at"]
        if "-USDT" in code:
            if "amount" not in r:
                out.append(ev(code, side, "linear", None, px, None, "unknown", t))
                continue
            qty = float(r["amount"])
            usd = float(r["trade_turnover"]) if "trade_turnover" in r else qty * px
            out.append(ev(code, side, "linear", qty, px, usd, "linear", t))
            continue
        cs = HTX_SWAP.get(code)
        if cs is None and code[-6:].isdigit():
            cs = HTX_FUTURES_COIN.get(code[:-6])
        if cs is None:
            out.append(ev(code, side, "inverse", None, px, None, "unknown", t))
            continue
        usd = vol * cs
        qty = float(r["amount"]) if "amount" in r else usd / px
        out.append(ev(code, side, "inverse", qty, px, usd, "contracts×contractSize", t))
    return out


# Gate quanto_multiplier (base per contract) of USDT-settled contracts:
# gate_usdt_doc.json, BTC_USDT 0.0001 only. HEI_USDT and LAB_USDT have no
# known multiplier offline, and no BTC-settled contract is embedded: unknown.
GATE_USDT = {"BTC_USDT": 0.0001}


def gate(line):
    f = json.loads(line)
    res = f["result"]
    rows = res if isinstance(res, list) else [res]
    out = []
    for r in rows:
        c = r["contract"]
        size = float(r["size"])
        side = "long" if size < 0 else "short"
        n, px = abs(size), float(r["price"])
        t = int(r["time_ms"] if "time_ms" in r else r["time"])
        if t < 10**12:
            t *= 1000
        market = "linear" if c.endswith("_USDT") else "inverse"
        q = GATE_USDT.get(c) if market == "linear" else None
        if q is None:
            out.append(ev(c, side, market, None, px, None, "unknown", t))
            continue
        base = n * q
        out.append(ev(c, side, "linear", base, px, base * px, "contracts×ctVal×ctMult×price", t))
    return out


for name, fn in [("binance_usdm", lambda l: binance(l, False)), ("binance_coinm", lambda l: binance(l, True)),
                 ("bybit", bybit), ("okx", okx), ("bitmex", bitmex),
                 ("deribit", deribit), ("kraken_futures", kraken), ("bitfinex", bitfinex),
                 ("bitget", bitget), ("aster", lambda l: binance(l, False)), ("htx", htx), ("gate", gate)]:
    with open(os.path.join(FRAMES, name + ".jsonl")) as fh:
        lines = [l.rstrip("\n") for l in fh if l.strip()]
    with open(os.path.join(HERE, name + ".json"), "w") as fh:
        json.dump([fn(l) for l in lines], fh, indent=1, ensure_ascii=False)
        fh.write("\n")
