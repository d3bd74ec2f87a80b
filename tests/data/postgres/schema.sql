-- Fixture for tests/integration/test_collector_postgres.c, loaded with
--   psql -X -q -v ON_ERROR_STOP=1 -d "host=... port=... user=postgres dbname=postgres" -f schema.sql
-- Two databases (shop, analytics), keys, comments, views on views, a
-- materialized view, odd names, and a read-only role.

CREATE ROLE reader LOGIN;
CREATE ROLE shop_owner;
CREATE DATABASE shop;
CREATE DATABASE analytics;
COMMENT ON DATABASE shop IS 'the web shop';
-- reader may not connect to analytics (its size and tables need CONNECT)
REVOKE CONNECT ON DATABASE analytics FROM PUBLIC;

\connect shop

CREATE SCHEMA sales AUTHORIZATION shop_owner;

CREATE TABLE public.customers (
	id integer PRIMARY KEY,
	email text NOT NULL UNIQUE,
	name varchar(100),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.customers IS 'People who bought something';
COMMENT ON COLUMN public.customers.email IS 'login and contact address';

CREATE TABLE sales.orders (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id integer NOT NULL
		CONSTRAINT orders_customer_fk REFERENCES public.customers (id) ON DELETE CASCADE,
	amount numeric(12,2) NOT NULL DEFAULT 0,
	status text DEFAULT 'new'::text,
	note text
);
ALTER TABLE sales.orders OWNER TO shop_owner;
COMMENT ON TABLE sales.orders IS 'One row per order';
COMMENT ON COLUMN sales.orders.amount IS 'total in EUR';

-- a composite foreign key
CREATE TABLE sales.products (
	sku text,
	region char(2),
	title text NOT NULL,
	PRIMARY KEY (sku, region)
);
CREATE TABLE sales.order_lines (
	order_id bigint NOT NULL REFERENCES sales.orders (id),
	line smallint NOT NULL,
	sku text NOT NULL,
	region char(2) NOT NULL,
	qty integer NOT NULL CHECK (qty > 0),
	PRIMARY KEY (order_id, line),
	CONSTRAINT order_lines_product_fk FOREIGN KEY (sku, region)
		REFERENCES sales.products (sku, region)
);

-- a view on a table, a view on that view, a materialized view on both
CREATE VIEW sales.order_totals AS
	SELECT o.customer_id, sum(o.amount) AS total, count(*) AS orders
	  FROM sales.orders o
	 GROUP BY o.customer_id;
COMMENT ON VIEW sales.order_totals IS 'Spend per customer';

CREATE VIEW sales.big_spenders AS
	SELECT t.customer_id, t.total
	  FROM sales.order_totals t
	 WHERE t.total > 1000;

CREATE MATERIALIZED VIEW sales.customer_report AS
	SELECT c.id, c.email, b.total
	  FROM public.customers c
	  JOIN sales.big_spenders b ON b.customer_id = c.id;

-- odd names: quotes, spaces, unicode, markup
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."we""ird <script>alert(1)</script> tâble ☃" (
	"col with space" integer,
	"ĉu ""quoted""?" text DEFAULT '<b>x</b>'
);
COMMENT ON TABLE "Odd Schema"."we""ird <script>alert(1)</script> tâble ☃"
	IS '<img src=x onerror=alert(1)> & "quotes"';

-- a partitioned table with a partition, and an unlogged table
CREATE TABLE public.events (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE UNLOGGED TABLE public.scratch (k text);

-- to be dropped by the test (stale on the next crawl)
CREATE TABLE public.doomed (x int);

INSERT INTO public.customers (id, email, name)
	SELECT g, 'c' || g || '@example.org', 'customer ' || g FROM generate_series(1, 120) g;
INSERT INTO sales.orders (customer_id, amount)
	SELECT 1 + g % 120, g FROM generate_series(1, 500) g;
INSERT INTO public.events VALUES (1, '2024-03-01'), (2, '2024-04-01');
REFRESH MATERIALIZED VIEW sales.customer_report;
ANALYZE;

GRANT USAGE ON SCHEMA sales TO reader;
-- reader gets no SELECT on any table: the catalogs are all it needs

\connect analytics

CREATE SCHEMA marts;
CREATE TABLE marts.daily_revenue (
	day date PRIMARY KEY,
	revenue numeric NOT NULL
);
COMMENT ON COLUMN marts.daily_revenue.revenue IS 'sum of order amounts';
CREATE VIEW marts.weekly_revenue AS
	SELECT date_trunc('week', day) AS week, sum(revenue) AS revenue
	  FROM marts.daily_revenue GROUP BY 1;
ANALYZE;
