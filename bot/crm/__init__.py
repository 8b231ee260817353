"""CRM adapters: HTTP clients that turn a CRM's records into ``core.crm`` changes and carry
``core.crm`` writes out."""
