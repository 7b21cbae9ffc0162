-- The warehouse schema of 7c7bc4b, before accounts: what an existing warehouse holds when it is upgraded.
-- schema_placeholder names the schema.
CREATE TABLE IF NOT EXISTS schema_placeholder.products (
	product_code TEXT NOT NULL, 
	product_model TEXT, 
	product_group TEXT, 
	brand TEXT, 
	image_url TEXT, 
	leaflet_urls TEXT, 
	is_sales BOOLEAN, 
	no_sales_reason TEXT, 
	is_active BOOLEAN NOT NULL, 
	first_seen_at TIMESTAMP WITH TIME ZONE, 
	last_seen_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (product_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.prices (
	product_code TEXT NOT NULL, 
	supply_price NUMERIC(18, 4), 
	invoice_price NUMERIC(18, 4), 
	direct_discount NUMERIC(12, 6), 
	rebate_type TEXT, 
	rebate_money NUMERIC(18, 4), 
	market_price NUMERIC(18, 4), 
	is_sales BOOLEAN, 
	reason TEXT, 
	fetched_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (product_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.price_history (
	product_code TEXT NOT NULL, 
	supply_price NUMERIC(18, 4), 
	invoice_price NUMERIC(18, 4), 
	direct_discount NUMERIC(12, 6), 
	rebate_type TEXT, 
	rebate_money NUMERIC(18, 4), 
	is_sales BOOLEAN, 
	valid_from TIMESTAMP WITH TIME ZONE NOT NULL, 
	valid_to TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (product_code, valid_from)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.stock_snapshots (
	snapshot_date DATE NOT NULL, 
	product_code TEXT NOT NULL, 
	county_code TEXT NOT NULL, 
	sec_code TEXT, 
	stock INTEGER NOT NULL, 
	warehouse_grade TEXT, 
	cut_time TEXT, 
	delivery_date DATE, 
	delivery_hours INTEGER, 
	is_transfer BOOLEAN, 
	fetched_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_stock_snapshots_day_product_county ON schema_placeholder.stock_snapshots (snapshot_date, product_code, county_code);
CREATE TABLE IF NOT EXISTS schema_placeholder.catalog (
	product_code TEXT NOT NULL, 
	product_model TEXT, 
	product_group TEXT, 
	brand TEXT, 
	is_sales BOOLEAN, 
	supply_price NUMERIC(18, 4), 
	invoice_price NUMERIC(18, 4), 
	rebate_type TEXT, 
	sale_price NUMERIC(18, 4), 
	total_stock BIGINT, 
	counties_in_stock INTEGER, 
	counties_checked INTEGER, 
	stock_snapshot_date DATE, 
	best_delivery_hours INTEGER, 
	counties_last_checked TEXT, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (product_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.account_balances (
	fetched_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	sale_group_code TEXT NOT NULL, 
	sale_group_name TEXT, 
	payer_account_code TEXT, 
	payer_account_name TEXT, 
	balance NUMERIC(18, 4) NOT NULL, 
	PRIMARY KEY (fetched_at, sale_group_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.logistics_events (
	order_code TEXT NOT NULL, 
	source_list TEXT NOT NULL, 
	record TEXT, 
	fetched_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_logistics_events_order_code ON schema_placeholder.logistics_events (order_code);
CREATE TABLE IF NOT EXISTS schema_placeholder.rejected_rows (
	asset TEXT NOT NULL, 
	partition_key TEXT, 
	run_id TEXT, 
	reason TEXT, 
	payload TEXT, 
	rejected_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_rejected_rows_asset_rejected_at ON schema_placeholder.rejected_rows (asset, rejected_at);
CREATE TABLE IF NOT EXISTS schema_placeholder.field_anomalies (
	asset TEXT NOT NULL, 
	partition_key TEXT, 
	run_id TEXT, 
	row_key TEXT, 
	field TEXT, 
	raw_value TEXT, 
	reason TEXT, 
	recorded_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_field_anomalies_asset_recorded_at ON schema_placeholder.field_anomalies (asset, recorded_at);
CREATE TABLE IF NOT EXISTS schema_placeholder.sync_log (
	run_id TEXT, 
	sync_type TEXT NOT NULL, 
	partition_key TEXT, 
	status TEXT NOT NULL, 
	total_count INTEGER, 
	success_count INTEGER, 
	failed_count INTEGER, 
	unanswered_count INTEGER, 
	api_calls INTEGER, 
	retries INTEGER, 
	throttled INTEGER, 
	started_at TIMESTAMP WITH TIME ZONE, 
	completed_at TIMESTAMP WITH TIME ZONE, 
	message TEXT, 
	CONSTRAINT ck_sync_log_status CHECK (status IN ('success', 'partial', 'failed'))
);
CREATE TABLE IF NOT EXISTS schema_placeholder.stock_lookups (
	snapshot_date DATE NOT NULL, 
	product_code TEXT NOT NULL, 
	county_code TEXT NOT NULL, 
	sec_code TEXT, 
	stock INTEGER NOT NULL, 
	warehouse_grade TEXT, 
	cut_time TEXT, 
	delivery_date DATE, 
	delivery_hours INTEGER, 
	is_transfer BOOLEAN, 
	fetched_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_stock_lookups_product_county ON schema_placeholder.stock_lookups (product_code, county_code);
CREATE TABLE IF NOT EXISTS schema_placeholder.stock_answers (
	snapshot_date DATE NOT NULL, 
	product_code TEXT NOT NULL, 
	county_code TEXT NOT NULL, 
	fetched_at TIMESTAMP WITH TIME ZONE, 
	answer TEXT, 
	refusal TEXT, 
	run_id TEXT, 
	PRIMARY KEY (snapshot_date, product_code, county_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.stock_staged_rows (
	snapshot_date DATE NOT NULL, 
	product_code TEXT NOT NULL, 
	county_code TEXT NOT NULL, 
	sec_code TEXT, 
	stock INTEGER NOT NULL, 
	warehouse_grade TEXT, 
	cut_time TEXT, 
	delivery_date DATE, 
	delivery_hours INTEGER, 
	is_transfer BOOLEAN, 
	fetched_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS ix_stock_staged_rows_day_product_county ON schema_placeholder.stock_staged_rows (snapshot_date, product_code, county_code);
CREATE TABLE IF NOT EXISTS schema_placeholder.stock_coverage (
	product_code TEXT NOT NULL, 
	county_code TEXT NOT NULL, 
	last_checked_day DATE, 
	last_checked_at TIMESTAMP WITH TIME ZONE, 
	last_stock BIGINT, 
	skipped_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (product_code, county_code)
);
CREATE TABLE IF NOT EXISTS schema_placeholder.schema_changes (
	table_name TEXT NOT NULL, 
	column_name TEXT NOT NULL, 
	added_at TIMESTAMP WITH TIME ZONE, 
	settled_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (table_name, column_name)
);
