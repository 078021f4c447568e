-- The ledger of record. Money and quantities are NUMERIC; times of events are integer
-- nanoseconds since the Unix epoch (ts_event), times of recording are timestamptz.

-- Latest state of every order (one row per client order id; newer events win).
CREATE TABLE orders (
    client_order_id text PRIMARY KEY,
    owner           text        NOT NULL,  -- a strategy, or 'net' for netting orders
    venue           text        NOT NULL,
    symbol          text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    type            text        NOT NULL,
    qty             numeric     NOT NULL CHECK (qty >= 0),
    price           numeric,
    status          text        NOT NULL,
    filled_qty      numeric     NOT NULL DEFAULT 0,
    avg_price       numeric,
    venue_order_id  text,
    reason          text        NOT NULL DEFAULT '',
    ts_event        bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_owner_ts ON orders (owner, ts_event DESC);

-- Every fill, once: a redelivered fill (same venue and fill id) is a no-op.
CREATE TABLE fills (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue           text        NOT NULL,
    fill_id         text        NOT NULL,
    strategy        text        NOT NULL,
    symbol          text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    qty             numeric     NOT NULL CHECK (qty > 0),
    price           numeric     NOT NULL,
    fee             numeric     NOT NULL DEFAULT 0,
    liquidity       text        NOT NULL CHECK (liquidity IN ('maker', 'taker', 'internal')),
    client_order_id text,
    venue_fill_id   text,
    ts_event        bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fills_venue_fill_id_key UNIQUE (venue, fill_id)
);
-- Keyset paging, newest first, overall and by strategy or symbol.
CREATE INDEX fills_ts ON fills (ts_event DESC, id DESC);
CREATE INDEX fills_strategy_ts ON fills (strategy, ts_event DESC, id DESC);
CREATE INDEX fills_symbol_ts ON fills (symbol, ts_event DESC, id DESC);

-- Opposite wishes of two strategies crossed at one price without an exchange order.
CREATE TABLE internal_crosses (
    venue        text        NOT NULL,
    cross_id     text        NOT NULL,
    symbol       text        NOT NULL,
    qty          numeric     NOT NULL CHECK (qty > 0),
    price        numeric     NOT NULL,
    buyer        text        NOT NULL,
    seller       text        NOT NULL,
    buy_fill_id  text,
    sell_fill_id text,
    ts_event     bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, cross_id)
);

-- Each strategy's position per symbol ('net' is the venue's); newer events win.
CREATE TABLE positions (
    strategy    text        NOT NULL,
    venue       text        NOT NULL,
    symbol      text        NOT NULL,
    qty         numeric     NOT NULL,
    target      numeric,
    ts_event    bigint      NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (strategy, venue, symbol)
);

-- Figures of a strategy (or of the account, 'net') at one instant.
CREATE TABLE equity_snapshots (
    strategy    text    NOT NULL,
    ts_event    bigint  NOT NULL,
    cash        numeric NOT NULL,
    realized    numeric NOT NULL,
    unrealized  numeric NOT NULL,
    fees        numeric NOT NULL,
    pnl         numeric NOT NULL,
    total_value numeric NOT NULL,
    exposure    numeric NOT NULL,
    PRIMARY KEY (strategy, ts_event)
);

CREATE TABLE strategy_runs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strategy   text        NOT NULL,
    params     jsonb       NOT NULL DEFAULT '{}',
    dry_run    boolean     NOT NULL DEFAULT false,
    started_ts bigint      NOT NULL,
    stopped_ts bigint,
    reason     text        NOT NULL DEFAULT '',
    CHECK (stopped_ts IS NULL OR stopped_ts >= started_ts)
);
CREATE INDEX strategy_runs_strategy ON strategy_runs (strategy, started_ts DESC);

CREATE TABLE parameter_changes (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strategy text   NOT NULL,
    actor    text   NOT NULL,
    before   jsonb,
    after    jsonb  NOT NULL,
    ts_event bigint NOT NULL
);
CREATE INDEX parameter_changes_strategy ON parameter_changes (strategy, ts_event DESC);

CREATE TABLE risk_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL,
    reason      text        NOT NULL,
    strategy    text,
    symbol      text,
    ts_event    bigint      NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- A redelivered risk event is the same event: one row.
CREATE UNIQUE INDEX risk_events_once
    ON risk_events (ts_event, kind, coalesce(strategy, ''), coalesce(symbol, ''), md5(reason));

-- Who did what, when, with the state before and after. Append-only for the app.
CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    before jsonb,
    after  jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
