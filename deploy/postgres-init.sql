-- Run once by the postgres image on an empty data folder (docker-compose.yaml): the warehouse's database beside the
-- instance's (POSTGRES_DB=dagster). The pipeline creates schema `haier` and its tables on the first sync.
CREATE DATABASE haier;
