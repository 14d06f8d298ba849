-- grantd adopted Ampersand's provider identifiers as its canonical names
-- (`constantContact`, `dynamicsCRM`, …); the old names stay in the catalog as
-- aliases, which every API field and path resolves. Rows written under an old
-- name are renamed here once, so stored data, filters and what connections
-- report all use one name per provider. The list is the catalog's
-- alias -> name pairs at the time (a test keeps the two in step).
CREATE TEMPORARY TABLE provider_renames (
    old_name TEXT PRIMARY KEY,
    new_name TEXT NOT NULL
);
INSERT INTO provider_renames (old_name, new_name) VALUES
    ('activecampaign', 'activeCampaign'),
    ('adobe-acrobat-sign', 'adobeAcrobatSign'),
    ('amazon-selling-partner', 'amazonSellingPartner'),
    ('aweber', 'aWeber'),
    ('campaign-monitor', 'campaignMonitor'),
    ('constant-contact', 'constantContact'),
    ('customer-io', 'customerJourneysApp'),
    ('dropbox-sign', 'dropboxSign'),
    ('dynamics-365', 'dynamicsCRM'),
    ('gohighlevel', 'highLevelStandard'),
    ('google-ads', 'googleAds'),
    ('gotomeeting', 'goTo'),
    ('helpscout', 'helpScoutMailbox'),
    ('instantly', 'instantlyAI'),
    ('linkedin', 'linkedIn'),
    ('microsoft-ads', 'microsoftAds'),
    ('mongodb-atlas', 'mongodbAtlas'),
    ('new-relic', 'newRelic'),
    ('paypal', 'payPal'),
    ('productboard', 'productBoard'),
    ('ringcentral', 'ringCentral'),
    ('sage-accounting', 'sageAccounting'),
    ('sage-intacct', 'sageIntacct'),
    ('salesforce-pardot', 'salesforcePardot'),
    ('sendgrid', 'sendGrid'),
    ('servicenow', 'serviceNow'),
    ('sugarcrm', 'sugarCRM'),
    ('surveymonkey', 'surveyMonkey'),
    ('zendesk', 'zendeskSupport'),
    ('zoho-books', 'zohoBooks'),
    ('zoho-crm', 'zoho'),
    ('zoho-desk', 'zohoDesk'),
    ('zoho-projects', 'zohoProjects'),
    ('zoominfo', 'zoomInfo');

UPDATE provider_apps
SET provider = (SELECT new_name FROM provider_renames WHERE old_name = provider_apps.provider)
WHERE provider IN (SELECT old_name FROM provider_renames);

UPDATE connections
SET provider = (SELECT new_name FROM provider_renames WHERE old_name = connections.provider)
WHERE provider IN (SELECT old_name FROM provider_renames);

UPDATE oauth_flows
SET provider = (SELECT new_name FROM provider_renames WHERE old_name = oauth_flows.provider)
WHERE provider IN (SELECT old_name FROM provider_renames);

UPDATE connect_sessions
SET provider = (SELECT new_name FROM provider_renames WHERE old_name = connect_sessions.provider)
WHERE provider IN (SELECT old_name FROM provider_renames);

-- connect_sessions.providers is a JSON array of names; each name is quoted
-- there, so a quoted replacement cannot touch a longer name.
UPDATE connect_sessions SET providers = REPLACE(providers, '"activecampaign"', '"activeCampaign"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"adobe-acrobat-sign"', '"adobeAcrobatSign"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"amazon-selling-partner"', '"amazonSellingPartner"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"aweber"', '"aWeber"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"campaign-monitor"', '"campaignMonitor"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"constant-contact"', '"constantContact"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"customer-io"', '"customerJourneysApp"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"dropbox-sign"', '"dropboxSign"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"dynamics-365"', '"dynamicsCRM"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"gohighlevel"', '"highLevelStandard"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"google-ads"', '"googleAds"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"gotomeeting"', '"goTo"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"helpscout"', '"helpScoutMailbox"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"instantly"', '"instantlyAI"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"linkedin"', '"linkedIn"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"microsoft-ads"', '"microsoftAds"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"mongodb-atlas"', '"mongodbAtlas"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"new-relic"', '"newRelic"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"paypal"', '"payPal"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"productboard"', '"productBoard"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"ringcentral"', '"ringCentral"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"sage-accounting"', '"sageAccounting"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"sage-intacct"', '"sageIntacct"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"salesforce-pardot"', '"salesforcePardot"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"sendgrid"', '"sendGrid"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"servicenow"', '"serviceNow"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"sugarcrm"', '"sugarCRM"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"surveymonkey"', '"surveyMonkey"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zendesk"', '"zendeskSupport"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zoho-books"', '"zohoBooks"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zoho-crm"', '"zoho"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zoho-desk"', '"zohoDesk"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zoho-projects"', '"zohoProjects"');
UPDATE connect_sessions SET providers = REPLACE(providers, '"zoominfo"', '"zoomInfo"');

DROP TABLE provider_renames;
