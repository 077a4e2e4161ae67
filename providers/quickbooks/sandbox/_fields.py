"""Every field name Intuit's XSDs give the entities the sandbox accepts writes of.

Generated from `tests/specs/quickbooks` by `python -m tests.providers.quickbooks.test_qbo_fields`
(which also checks it); do not edit. `TYPES[type][field]` is the field's own type when it has
fields of its own, None when it holds a value."""

from __future__ import annotations

ROOTS = ("Customer", "Item", "Invoice", "Payment", "CreditMemo")

TYPES: dict[str, dict[str, str | None]] = {
    "AccountBasedExpenseLineDetail": {
        "CustomerRef": "ReferenceType", "ClassRef": "ReferenceType", "AccountRef":
        "ReferenceType", "BillableStatus": None, "MarkupInfo": "MarkupInfo", "TaxAmount": None,
        "TaxCodeRef": "ReferenceType", "TaxInclusiveAmt": None, "ExpenseDetailLineDetailEx":
        "IntuitAnyType"
    },
    "AttachableRef": {
        "EntityRef": "ReferenceType", "LineInfo": None, "IncludeOnSend": None, "CustomField":
        "CustomField", "AttachableRefEx": "IntuitAnyType"
    },
    "CheckPayment": {
        "CheckNum": None, "Status": None, "NameOnAcct": None, "AcctNum": None, "BankName":
        None, "CheckPaymentEx": "IntuitAnyType"
    },
    "ContactInfo": {
        "Type": None, "Telephone": "TelephoneNumber", "Email": "EmailAddress", "WebSite":
        "WebSiteAddress", "OtherContact": "GenericContactType"
    },
    "ConvenienceFeeDetail": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "ConvenienceFeeType": None, "ConvenienceFeePercent": None
    },
    "CreditCardPayment": {
        "CreditChargeInfo": "CreditChargeInfo", "CreditChargeResponse": "CreditChargeResponse"
    },
    "CreditChargeInfo": {
        "Number": None, "Type": None, "NameOnAcct": None, "CcExpiryMonth": None,
        "CcExpiryYear": None, "BillAddrStreet": None, "PostalCode": None, "CommercialCardCode":
        None, "CCTxnMode": None, "CCTxnType": None, "PrevCCTransId": None, "Amount": None,
        "ProcessPayment": None, "CreditCardChargeInfoEx": "IntuitAnyType"
    },
    "CreditChargeResponse": {
        "CCProcessor": None, "CCTransId": None, "Status": None, "ResultCode": None,
        "ResultMsg": None, "MerchantAcctNum": None, "CardSecurityCodeMatch": None, "AuthCode":
        None, "AvsStreet": None, "AvsZip": None, "SecurityCode": None, "ReconBatchId": None,
        "PaymentGroupingCode": None, "TxnAuthorizationTime": None, "TxnAuthorizationStamp":
        None, "ClientTransID": None, "CreditChargeResponseEx": "IntuitAnyType"
    },
    "CreditMemo": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "DocNumber": None, "TxnDate": None, "DepartmentRef": "ReferenceType",
        "CurrencyRef": "ReferenceType", "ExchangeRate": None, "PrivateNote": None, "TxnStatus":
        None, "LinkedTxn": "LinkedTxn", "Line": "Line", "TxnTaxDetail": "TxnTaxDetail",
        "TxnSource": None, "TaxFormType": None, "TaxFormNum": None, "TransactionLocationType":
        None, "Tag": "Tag", "TxnApprovalInfo": "TxnApprovalInfo", "RecurDataRef":
        "ReferenceType", "RecurringInfo": "RecurringInfo", "ProjectRef": "ReferenceType",
        "TotalCostAmount": None, "HomeTotalCostAmount": None, "AutoDocNumber": None,
        "CustomerRef": "ReferenceType", "CustomerMemo": "MemoRef", "BillAddr":
        "PhysicalAddress", "ShipAddr": "PhysicalAddress", "FreeFormAddress": None,
        "ShipFromAddr": "PhysicalAddress", "RemitToRef": "ReferenceType", "ClassRef":
        "ReferenceType", "SalesTermRef": "ReferenceType", "DueDate": None, "SalesRepRef":
        "ReferenceType", "PONumber": None, "FOB": None, "ShipMethodRef": "ReferenceType",
        "ShipDate": None, "TrackingNum": None, "GlobalTaxCalculation": None, "TotalAmt": None,
        "HomeTotalAmt": None, "ApplyTaxAfterDiscount": None, "ShippingTaxIncludedInTotalTax":
        None, "TemplateRef": "ReferenceType", "PrintStatus": None, "EmailStatus": None,
        "BillEmail": "EmailAddress", "BillEmailCc": "EmailAddress", "BillEmailBcc":
        "EmailAddress", "ARAccountRef": "ReferenceType", "Balance": None, "HomeBalance": None,
        "FinanceCharge": None, "PaymentMethodRef": "ReferenceType", "PaymentRefNum": None,
        "PaymentType": None, "CheckPayment": "CheckPayment", "CreditCardPayment":
        "CreditCardPayment", "DepositToAccountRef": "ReferenceType", "DeliveryInfo":
        "TransactionDeliveryInfo", "DiscountRate": None, "DiscountAmt": None,
        "GovtTxnRefIdentifier": None, "TaxExemptionRef": "ReferenceType", "RemainingCredit":
        None, "InvoiceRef": "ReferenceType", "CreditMemoEx": "IntuitAnyType"
    },
    "CustomField": {
        "DefinitionId": None, "Name": None, "Type": None, "StringValue": None, "BooleanValue":
        None, "DateValue": None, "NumberValue": None
    },
    "Customer": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "IntuitId": None, "Organization": None, "Title": None, "GivenName":
        None, "MiddleName": None, "FamilyName": None, "Suffix": None, "FullyQualifiedName":
        None, "CompanyName": None, "DisplayName": None, "PrintOnCheckName": None, "UserId":
        None, "Active": None, "V4IDPseudonym": None, "PrimaryPhone": "TelephoneNumber",
        "AlternatePhone": "TelephoneNumber", "Mobile": "TelephoneNumber", "Fax":
        "TelephoneNumber", "PrimaryEmailAddr": "EmailAddress", "WebAddr": "WebSiteAddress",
        "OtherContactInfo": "ContactInfo", "DefaultTaxCodeRef": "ReferenceType", "Taxable":
        None, "BillAddr": "PhysicalAddress", "ShipAddr": "PhysicalAddress", "OtherAddr":
        "PhysicalAddress", "ContactName": None, "AltContactName": None, "Notes": None, "Job":
        None, "BillWithParent": None, "RootCustomerRef": "ReferenceType", "ParentRef":
        "ReferenceType", "Level": None, "CustomerTypeRef": "ReferenceType", "SalesTermRef":
        "ReferenceType", "SalesRepRef": "ReferenceType", "TaxGroupCodeRef": "ReferenceType",
        "TaxRateRef": "ReferenceType", "PaymentMethodRef": "ReferenceType", "CCDetail":
        "CreditChargeInfo", "PriceLevelRef": "ReferenceType", "Balance": None,
        "OpenBalanceDate": None, "BalanceWithJobs": None, "CreditLimit": None, "AcctNum": None,
        "CurrencyRef": "ReferenceType", "OverDueBalance": None, "TotalRevenue": None,
        "TotalExpense": None, "PreferredDeliveryMethod": None, "ResaleNum": None, "JobInfo":
        "JobInfo", "TDSEnabled": None, "CustomerEx": "IntuitAnyType", "SecondaryTaxIdentifier":
        None, "ARAccountRef": "ReferenceType", "PrimaryTaxIdentifier": None,
        "TaxExemptionReasonId": None, "IsProject": None, "BusinessNumber": None, "GSTIN": None,
        "GSTRegistrationType": None, "IsCISContractor": None, "ClientCompanyId": None,
        "ClientEntityId": None, "Source": None, "TaxRegime": None
    },
    "DepositLineDetail": {
        "Entity": "ReferenceType", "ClassRef": "ReferenceType", "AccountRef": "ReferenceType",
        "PaymentMethodRef": "ReferenceType", "CheckNum": None, "TxnType": None, "TaxCodeRef":
        "ReferenceType", "TaxApplicableOn": None, "DepositLineDetailEx": "IntuitAnyType"
    },
    "DescriptionLineDetail": {
        "ServiceDate": None, "TaxCodeRef": "ReferenceType", "DescriptionLineDetailEx":
        "IntuitAnyType"
    },
    "DiscountLineDetail": {
        "DiscountRef": "ReferenceType", "PercentBased": None, "DiscountPercent": None,
        "DiscountAccountRef": "ReferenceType", "ServiceDate": None, "ClassRef":
        "ReferenceType", "TaxCodeRef": "ReferenceType", "DiscountLineDetailEx": "IntuitAnyType"
    },
    "DiscountOverride": {
        "DiscountRef": "ReferenceType", "PercentBased": None, "DiscountPercent": None,
        "DiscountAccountRef": "ReferenceType"
    },
    "EmailAddress": {
        "Id": None, "Address": None, "Default": None, "Tag": None
    },
    "EntityTypeRef": {
        "Type": None, "EntityRef": "ReferenceType"
    },
    "GenericContactType": {
        "Id": None, "Name": None, "Value": None, "Type": None, "Default": None, "Tag": None
    },
    "GroupLineDetail": {
        "GroupItemRef": "ReferenceType", "Quantity": None, "UOMRef": "UOMRef", "ServiceDate":
        None, "Line": "Line", "GroupLineDetailEx": "IntuitAnyType"
    },
    "IntuitAnyType": {
    },
    "Invoice": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "DocNumber": None, "TxnDate": None, "DepartmentRef": "ReferenceType",
        "CurrencyRef": "ReferenceType", "ExchangeRate": None, "PrivateNote": None, "TxnStatus":
        None, "LinkedTxn": "LinkedTxn", "Line": "Line", "TxnTaxDetail": "TxnTaxDetail",
        "TxnSource": None, "TaxFormType": None, "TaxFormNum": None, "TransactionLocationType":
        None, "Tag": "Tag", "TxnApprovalInfo": "TxnApprovalInfo", "RecurDataRef":
        "ReferenceType", "RecurringInfo": "RecurringInfo", "ProjectRef": "ReferenceType",
        "TotalCostAmount": None, "HomeTotalCostAmount": None, "AutoDocNumber": None,
        "CustomerRef": "ReferenceType", "CustomerMemo": "MemoRef", "BillAddr":
        "PhysicalAddress", "ShipAddr": "PhysicalAddress", "FreeFormAddress": None,
        "ShipFromAddr": "PhysicalAddress", "RemitToRef": "ReferenceType", "ClassRef":
        "ReferenceType", "SalesTermRef": "ReferenceType", "DueDate": None, "SalesRepRef":
        "ReferenceType", "PONumber": None, "FOB": None, "ShipMethodRef": "ReferenceType",
        "ShipDate": None, "TrackingNum": None, "GlobalTaxCalculation": None, "TotalAmt": None,
        "HomeTotalAmt": None, "ApplyTaxAfterDiscount": None, "ShippingTaxIncludedInTotalTax":
        None, "TemplateRef": "ReferenceType", "PrintStatus": None, "EmailStatus": None,
        "BillEmail": "EmailAddress", "BillEmailCc": "EmailAddress", "BillEmailBcc":
        "EmailAddress", "ARAccountRef": "ReferenceType", "Balance": None, "HomeBalance": None,
        "FinanceCharge": None, "PaymentMethodRef": "ReferenceType", "PaymentRefNum": None,
        "PaymentType": None, "CheckPayment": "CheckPayment", "CreditCardPayment":
        "CreditCardPayment", "DepositToAccountRef": "ReferenceType", "DeliveryInfo":
        "TransactionDeliveryInfo", "DiscountRate": None, "DiscountAmt": None,
        "GovtTxnRefIdentifier": None, "TaxExemptionRef": "ReferenceType", "Deposit": None,
        "AllowIPNPayment": None, "AllowOnlinePayment": None, "AllowOnlineCreditCardPayment":
        None, "AllowOnlineACHPayment": None, "AllowOnlinePayPalPayment": None,
        "EInvoiceStatus": None, "ECloudStatusTimeStamp": None, "CfdiUse": None, "Exportation":
        None, "GlobalInfo": "MXGlobalInfo", "invoiceStatus": None, "callToAction": None,
        "invoiceStatusLog": "StatusInfo", "InvoiceEx": "IntuitAnyType", "LessCIS": None,
        "InvoiceLink": None, "PaymentDetailsMessage": None, "ConvenienceFeeDetail":
        "ConvenienceFeeDetail", "InvoiceLinkSecurityCode": None, "InvoiceLinkExpiryDate": None,
        "AutoPayEligible": None, "SchedulePayEligible": None, "ScheduledPaymentId": None,
        "GratuityEnabled": None, "FinancingProductType": None, "SubscriptionPaymentsSetting":
        None
    },
    "Item": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "Name": None, "Sku": None, "Description": None, "Active": None,
        "SubItem": None, "ParentRef": "ReferenceType", "Level": None, "FullyQualifiedName":
        None, "Taxable": None, "SalesTaxIncluded": None, "PercentBased": None, "UnitPrice":
        None, "RatePercent": None, "Type": None, "PaymentMethodRef": "ReferenceType",
        "UOMSetRef": "ReferenceType", "IncomeAccountRef": "ReferenceType", "PurchaseDesc":
        None, "PurchaseTaxIncluded": None, "PurchaseCost": None, "ExpenseAccountRef":
        "ReferenceType", "COGSAccountRef": "ReferenceType", "AssetAccountRef": "ReferenceType",
        "PrefVendorRef": "ReferenceType", "AvgCost": None, "TrackQtyOnHand": None, "QtyOnHand":
        None, "QtyOnPurchaseOrder": None, "QtyOnSalesOrder": None, "ReorderPoint": None,
        "ManPartNum": None, "DepositToAccountRef": "ReferenceType", "SalesTaxCodeRef":
        "ReferenceType", "PurchaseTaxCodeRef": "ReferenceType", "InvStartDate": None,
        "BuildPoint": None, "PrintGroupedItems": None, "SpecialItem": None, "SpecialItemType":
        None, "ItemGroupDetail": "ItemGroupDetail", "ItemAssemblyDetail": "ItemAssemblyDetail",
        "AbatementRate": None, "ReverseChargeRate": None, "ServiceType": None,
        "ItemCategoryType": None, "ItemEx": "IntuitAnyType", "TaxClassificationRef":
        "ReferenceType", "UQCDisplayText": None, "UQCId": None, "ClassRef": "ReferenceType",
        "Source": None, "DeferredRevenue": None
    },
    "ItemAdjustmentLineDetail": {
        "ItemRef": "ReferenceType", "SalesPrice": None, "QtyDiff": None, "NewQty": None,
        "ClassRef": "ReferenceType"
    },
    "ItemAssemblyDetail": {
        "ItemAssemblyLine": "ItemComponentLine"
    },
    "ItemBasedExpenseLineDetail": {
        "ItemRef": "ReferenceType", "ClassRef": "ReferenceType", "UnitPrice": None,
        "UnitCostPrice": None, "RatePercent": None, "PriceLevelRef": "ReferenceType",
        "MarkupInfo": "MarkupInfo", "Qty": None, "UOMRef": "UOMRef", "ItemAccountRef":
        "ReferenceType", "InventorySiteRef": "ReferenceType", "TaxCodeRef": "ReferenceType",
        "TaxClassificationRef": "ReferenceType", "CustomerRef": "ReferenceType",
        "BillableStatus": None, "TaxInclusiveAmt": None, "ItemBasedExpenseLineDetailEx":
        "IntuitAnyType"
    },
    "ItemComponentLine": {
        "ItemRef": "ReferenceType", "Qty": None, "UOMRef": "UOMRef"
    },
    "ItemGroupDetail": {
        "ItemGroupLine": "ItemComponentLine"
    },
    "ItemReceiptLineDetail": {
        "ItemReceiptLineDetailEx": "IntuitAnyType"
    },
    "JobInfo": {
        "Status": None, "StartDate": None, "ProjectedEndDate": None, "EndDate": None,
        "Description": None, "JobTypeRef": "ReferenceType"
    },
    "JournalEntryLineDetail": {
        "PostingType": None, "Entity": "EntityTypeRef", "AccountRef": "ReferenceType",
        "ClassRef": "ReferenceType", "DepartmentRef": "ReferenceType", "TaxCodeRef":
        "ReferenceType", "TaxRateRef": "ReferenceType", "TaxApplicableOn": None, "TaxAmount":
        None, "TaxInclusiveAmt": None, "BillableStatus": None, "JournalCodeRef":
        "ReferenceType", "JournalEntryLineDetailEx": "IntuitAnyType"
    },
    "Line": {
        "Id": None, "LineNum": None, "Description": None, "Amount": None, "Received": None,
        "LinkedTxn": "LinkedTxn", "DetailType": None, "PaymentLineDetail": "PaymentLineDetail",
        "DiscountLineDetail": "DiscountLineDetail", "TaxLineDetail": "TaxLineDetail",
        "SalesItemLineDetail": "SalesItemLineDetail", "DescriptionLineDetail":
        "DescriptionLineDetail", "ItemBasedExpenseLineDetail": "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": "AccountBasedExpenseLineDetail",
        "ReimburseLineDetail": "ReimburseLineDetail", "DepositLineDetail": "DepositLineDetail",
        "PurchaseOrderItemLineDetail": "PurchaseOrderItemLineDetail",
        "SalesOrderItemLineDetail": "SalesOrderItemLineDetail", "ItemReceiptLineDetail":
        "ItemReceiptLineDetail", "JournalEntryLineDetail": "JournalEntryLineDetail",
        "GroupLineDetail": "GroupLineDetail", "SubTotalLineDetail": "SubTotalLineDetail",
        "TDSLineDetail": "TDSLineDetail", "ItemAdjustmentLineDetail":
        "ItemAdjustmentLineDetail", "CustomField": "CustomField", "LineEx": "IntuitAnyType",
        "ProjectRef": "ReferenceType", "CostAmount": None, "HomeCostAmount": None
    },
    "LinkedTxn": {
        "TxnId": None, "TxnType": None, "TxnLineId": None
    },
    "MXGlobalInfo": {
        "Periodicity": None, "Month": None, "Year": None
    },
    "MarkupInfo": {
        "PercentBased": None, "Value": None, "Percent": None, "PriceLevelRef": "ReferenceType",
        "MarkUpIncomeAccountRef": "ReferenceType"
    },
    "MemoRef": {
        "id": None, "value": None
    },
    "ModificationMetaData": {
        "CreatedByRef": "ReferenceType", "CreateTime": None, "LastModifiedByRef":
        "ReferenceType", "LastUpdatedTime": None, "LastChangedInQB": None, "Synchronized": None
    },
    "Payment": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "DocNumber": None, "TxnDate": None, "DepartmentRef": "ReferenceType",
        "CurrencyRef": "ReferenceType", "ExchangeRate": None, "PrivateNote": None, "TxnStatus":
        None, "LinkedTxn": "LinkedTxn", "Line": "Line", "TxnTaxDetail": "TxnTaxDetail",
        "TxnSource": None, "TaxFormType": None, "TaxFormNum": None, "TransactionLocationType":
        None, "Tag": "Tag", "TxnApprovalInfo": "TxnApprovalInfo", "RecurDataRef":
        "ReferenceType", "RecurringInfo": "RecurringInfo", "ProjectRef": "ReferenceType",
        "TotalCostAmount": None, "HomeTotalCostAmount": None, "CustomerRef": "ReferenceType",
        "RemitToRef": "ReferenceType", "ARAccountRef": "ReferenceType", "DepositToAccountRef":
        "ReferenceType", "PaymentMethodRef": "ReferenceType", "PaymentRefNum": None,
        "PaymentType": None, "CheckPayment": "CheckPayment", "CreditCardPayment":
        "CreditCardPayment", "TotalAmt": None, "UnappliedAmt": None, "ProcessPayment": None,
        "PaymentEx": "IntuitAnyType"
    },
    "PaymentLineDetail": {
        "ItemRef": "ReferenceType", "ServiceDate": None, "ClassRef": "ReferenceType",
        "Balance": None, "HomeBalance": None, "Discount": "DiscountOverride", "PaymentLineEx":
        "IntuitAnyType"
    },
    "PhysicalAddress": {
        "Id": None, "Line1": None, "Line2": None, "Line3": None, "Line4": None, "Line5": None,
        "City": None, "Country": None, "CountryCode": None, "County": None,
        "CountrySubDivisionCode": None, "PostalCode": None, "PostalCodeSuffix": None, "Lat":
        None, "Long": None, "Tag": None, "Note": None
    },
    "PurchaseOrderItemLineDetail": {
        "ItemRef": "ReferenceType", "ClassRef": "ReferenceType", "UnitPrice": None,
        "UnitCostPrice": None, "RatePercent": None, "PriceLevelRef": "ReferenceType",
        "MarkupInfo": "MarkupInfo", "Qty": None, "UOMRef": "UOMRef", "ItemAccountRef":
        "ReferenceType", "InventorySiteRef": "ReferenceType", "TaxCodeRef": "ReferenceType",
        "TaxClassificationRef": "ReferenceType", "ServiceDate": None, "TaxInclusiveAmt": None,
        "DiscountRate": None, "DiscountAmt": None, "DeferredRevenue": None,
        "SalesItemLineDetailEx": "IntuitAnyType", "ManPartNum": None, "ManuallyClosed": None,
        "OpenQty": None, "PurchaseOrderItemLineDetailEx": "IntuitAnyType"
    },
    "RecurringInfo": {
        "Name": None, "RecurType": None, "Active": None, "ScheduleInfo":
        "RecurringScheduleInfo"
    },
    "RecurringScheduleInfo": {
        "IntervalType": None, "NumInterval": None, "DayOfMonth": None, "DayOfWeek": None,
        "WeekOfMonth": None, "MonthOfYear": None, "RemindDays": None, "DaysBefore": None,
        "MaxOccurrences": None, "StartDate": None, "EndDate": None, "NextDate": None,
        "PreviousDate": None
    },
    "ReferenceType": {
        "name": None, "type": None, "value": None
    },
    "ReimburseLineDetail": {
        "ItemRef": "ReferenceType", "ClassRef": "ReferenceType", "UnitPrice": None,
        "UnitCostPrice": None, "RatePercent": None, "PriceLevelRef": "ReferenceType",
        "MarkupInfo": "MarkupInfo", "Qty": None, "UOMRef": "UOMRef", "ItemAccountRef":
        "ReferenceType", "InventorySiteRef": "ReferenceType", "TaxCodeRef": "ReferenceType",
        "TaxClassificationRef": "ReferenceType"
    },
    "SalesItemLineDetail": {
        "ItemRef": "ReferenceType", "ClassRef": "ReferenceType", "UnitPrice": None,
        "UnitCostPrice": None, "RatePercent": None, "PriceLevelRef": "ReferenceType",
        "MarkupInfo": "MarkupInfo", "Qty": None, "UOMRef": "UOMRef", "ItemAccountRef":
        "ReferenceType", "InventorySiteRef": "ReferenceType", "TaxCodeRef": "ReferenceType",
        "TaxClassificationRef": "ReferenceType", "ServiceDate": None, "TaxInclusiveAmt": None,
        "DiscountRate": None, "DiscountAmt": None, "DeferredRevenue": None,
        "SalesItemLineDetailEx": "IntuitAnyType"
    },
    "SalesOrderItemLineDetail": {
        "ItemRef": "ReferenceType", "ClassRef": "ReferenceType", "UnitPrice": None,
        "UnitCostPrice": None, "RatePercent": None, "PriceLevelRef": "ReferenceType",
        "MarkupInfo": "MarkupInfo", "Qty": None, "UOMRef": "UOMRef", "ItemAccountRef":
        "ReferenceType", "InventorySiteRef": "ReferenceType", "TaxCodeRef": "ReferenceType",
        "TaxClassificationRef": "ReferenceType", "ServiceDate": None, "TaxInclusiveAmt": None,
        "DiscountRate": None, "DiscountAmt": None, "DeferredRevenue": None,
        "SalesItemLineDetailEx": "IntuitAnyType", "ManuallyClosed": None
    },
    "StatusInfo": {
        "status": None, "statusDate": None, "callToAction": None
    },
    "SubTotalLineDetail": {
        "ItemRef": "ReferenceType", "ServiceDate": None
    },
    "TDSLineDetail": {
        "TDSAccountRef": "ReferenceType", "TDSSectionTypeId": None, "TDSLineDetailEx":
        "IntuitAnyType"
    },
    "Tag": {
        "domain": None, "status": None, "sparse": None, "Id": None, "SyncToken": None,
        "MetaData": "ModificationMetaData", "CustomField": "CustomField", "AttachableRef":
        "AttachableRef", "Name": None
    },
    "TaxLineDetail": {
        "TaxRateRef": "ReferenceType", "PercentBased": None, "TaxPercent": None,
        "NetAmountTaxable": None, "TaxInclusiveAmount": None, "OverrideDeltaAmount": None,
        "ServiceDate": None, "TaxLineDetailEx": "IntuitAnyType"
    },
    "TelephoneNumber": {
        "Id": None, "DeviceType": None, "CountryCode": None, "AreaCode": None, "ExchangeCode":
        None, "Extension": None, "FreeFormNumber": None, "Default": None, "Tag": None
    },
    "TransactionDeliveryInfo": {
        "DeliveryType": None, "DeliveryTime": None, "DeliveryErrorType": None
    },
    "TxnApprovalInfo": {
        "ApprovalStatus": None, "ApprovalStatusDetail": None, "LastChangedByUser": None,
        "LastChangedDate": None
    },
    "TxnTaxDetail": {
        "DefaultTaxCodeRef": "ReferenceType", "TxnTaxCodeRef": "ReferenceType", "TotalTax":
        None, "TaxReviewStatus": None, "TaxLine": "Line", "UseAutomatedSalesTax": None
    },
    "UOMRef": {
        "Unit": None, "UOMSetRef": "ReferenceType"
    },
    "WebSiteAddress": {
        "Id": None, "URI": None, "Default": None, "Tag": None
    },
}
