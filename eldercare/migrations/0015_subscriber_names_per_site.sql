-- Subscriber names are unique per site, not across sites: a site admin choosing a name another
-- care home already uses must not learn that it exists (tenant isolation). Installation-wide
-- subscribers (site_id NULL) stay unique among themselves: NULLS NOT DISTINCT (PostgreSQL 15+).
ALTER TABLE alert_subscribers DROP CONSTRAINT alert_subscribers_name_key;
ALTER TABLE alert_subscribers ADD CONSTRAINT alert_subscribers_site_name_key
    UNIQUE NULLS NOT DISTINCT (site_id, name);
