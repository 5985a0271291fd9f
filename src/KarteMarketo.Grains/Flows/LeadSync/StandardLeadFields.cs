namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// The standard lead fields (REST names) the sync asks for, where the instance has them: Marketo's documented list
/// (marketo-facts §3) plus <c>id</c>, and the <c>mkto…</c> fields of KARTE's sample record. Which of them exist on an instance is learned from describe.
/// </summary>
public static class StandardLeadFields
{
    public static IReadOnlyList<string> All { get; } =
    [
        "id", "email", "firstName", "middleName", "lastName", "salutation", "title", "company", "department", "industry",
        "address", "city", "state", "postalCode", "country", "phone", "mobilePhone", "mainPhone", "fax", "website",
        "dateOfBirth", "annualRevenue", "numberOfEmployees", "sicCode", "site", "rating", "leadRole", "leadScore",
        "leadSource", "leadStatus", "doNotCall", "doNotCallReason", "unsubscribed", "unsubscribedReason", "emailInvalid",
        "emailInvalidCause", "anonymousIP", "inferredCompany", "inferredCountry", "inferredCity", "inferredMetropolitanArea",
        "inferredPhoneAreaCode", "inferredPostalCode", "inferredStateRegion", "isAnonymous", "priority", "relativeScore",
        "urgency", "billingCity", "billingCountry", "billingPostalCode", "billingState", "billingStreet", "createdAt",
        "updatedAt",
        // In KARTE's sample user info (the plugin asked for them): the lead's display name and its partner/customer flags.
        "mktoName", "mktoIsPartner", "mktoIsCustomer",
    ];
}
