"""The model's feature list, defined once: names, kinds and how a missing value is treated.

``marts.lead_features`` (dbt) has one column per feature; training, batch scoring and online
scoring all read that table and turn a row into a vector with the same spec, so a feature is
never computed two ways. Every feature is known when the lead arrives (the lead's own fields
and its enrichment); nothing comes from later stage events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["numeric", "boolean", "categorical"]

# How a missing value is treated, by kind. XGBoost learns a default branch for NaN; the
# logistic baseline imputes the training median and adds a was-missing indicator.
MISSING_POLICY: dict[str, str] = {
    "numeric": "NaN; the baseline imputes the training median and adds an indicator",
    "boolean": "NaN (unknown is not false); 1.0 / 0.0 otherwise",
    "categorical": "'__missing__'; values unseen in training become '__other__'",
}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    description: str


FEATURES: tuple[Feature, ...] = (
    # What the seller told us
    Feature("source", "categorical", "Lead source code (web_form, ppc, direct_mail, …)."),
    Feature("property_type", "categorical", "Canonical property type."),
    Feature("condition", "categorical", "Seller-stated condition."),
    Feature("occupancy", "categorical", "Seller-stated occupancy."),
    Feature("motivation", "categorical", "Seller-stated reason to sell."),
    Feature("timeline", "categorical", "Seller-stated time frame."),
    Feature("timeline_days", "numeric", "The time frame in days (asap = 7)."),
    Feature("asking_price", "numeric", "Seller's asking price, USD."),
    Feature("asking_to_value_ratio", "numeric", "Asking price over estimated value."),
    Feature("mortgage_balance", "numeric", "Stated mortgage balance, else the estimate, USD."),
    Feature("bedrooms", "numeric", "Bedrooms (lead, else county record)."),
    Feature("bathrooms", "numeric", "Bathrooms (lead, else county record)."),
    Feature("square_feet", "numeric", "Living area in square feet."),
    Feature("property_age_years", "numeric", "Years from year built to the lead's arrival."),
    Feature("has_consent_email", "boolean", "The seller agreed to email."),
    Feature("has_consent_sms", "boolean", "The seller agreed to text messages."),
    # Contact quality (enrichment)
    Feature("has_email", "boolean", "An email address was given."),
    Feature("has_phone", "boolean", "A phone number was given."),
    Feature(
        "email_is_valid", "boolean", "The email address is well formed and deliverable-looking."
    ),
    Feature("email_is_disposable", "boolean", "The email domain is a disposable-mail service."),
    Feature("email_is_role", "boolean", "The email is a role address (info@, sales@)."),
    Feature("phone_is_valid", "boolean", "The phone number is valid for its region."),
    Feature("phone_line_type", "categorical", "mobile, fixed_line, voip, …"),
    # Property and owner (enrichment from the county roll or the vendor)
    Feature("is_address_parsed", "boolean", "The address parsed into USPS parts."),
    Feature("is_county_matched", "boolean", "The address matched a county parcel."),
    Feature("is_owner_of_record", "boolean", "The seller's name matches the owner of record."),
    Feature("owner_match_score", "numeric", "Fuzzy name-match score against the owner, 0-100."),
    Feature("is_absentee_owner", "boolean", "The owner's mailing address is elsewhere."),
    Feature("estimated_value", "numeric", "Estimated market value, USD."),
    Feature("assessed_value", "numeric", "County assessed value, USD."),
    Feature("equity", "numeric", "Estimated value minus mortgage balance, USD."),
    Feature("equity_ratio", "numeric", "Equity over estimated value."),
    Feature("years_since_last_sale", "numeric", "Years from the last recorded sale to arrival."),
    Feature("is_tax_delinquent", "boolean", "Property taxes are delinquent."),
    Feature("is_in_foreclosure", "boolean", "A foreclosure filing is on record."),
    # Point-in-time history: leads for the same property or contact received before this one
    Feature("n_prior_leads_same_property", "numeric", "Earlier leads for the same address key."),
    Feature("n_prior_leads_same_contact", "numeric", "Earlier leads with the same email or phone."),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "numeric")
BOOLEAN_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "boolean")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")

# Identifying columns of marts.lead_features that are not features.
KEY_COLUMNS: tuple[str, ...] = ("lead_id", "external_id", "received_at", "received_date")
# The label of marts.lead_training_set; its stage and window are dbt vars (label_stage,
# label_window_days in dbt_project/dbt_project.yml, docs/ml.md "The label").
LABEL = "is_converted"
