-- Every serving process asks each second which tenants' routes changed
-- since it last acknowledged them. Only tenants that were ever moved have
-- a route version above 0: this index holds just those, so the question
-- costs the same with ten tenants or a hundred thousand.
CREATE INDEX tenants_route_changed ON tenantry.tenants (id) INCLUDE (route_version)
    WHERE route_version > 0;
