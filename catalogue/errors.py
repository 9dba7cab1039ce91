"""Errors the registry raises. Messages never carry personal data or internals."""

from __future__ import annotations

from schemas import TongbanError


class CatalogueError(TongbanError):
    """The catalogue refused a request; the base of the catalogue errors."""

    code = "catalogue_error"
    status = 400
    title = "Catalogue error"


class InvalidDescriptor(CatalogueError):
    """A descriptor broke its schema or a catalogue rule; ``errors`` carry JSON pointers."""

    code = "invalid_descriptor"
    status = 422
    title = "Invalid descriptor"


class NotFound(CatalogueError):
    """Nothing by that name or at that address; the base of the catalogue's not-found errors."""

    code = "not_found"
    status = 404
    title = "Not found"


class ResourceNotFound(NotFound):
    """No data resource with that code in the catalogue, or no such version of it."""

    code = "resource_not_found"
    title = "Resource not found"


class ServiceItemNotFound(NotFound):
    """No service item with that code in the catalogue, or none published yet.

    The one answer for it everywhere: reading the catalogue, and a query or consent request
    that names the service item."""

    code = "service_item_not_found"
    title = "Service item not found"


class DepartmentNotFound(NotFound):
    """No department with that code in the catalogue."""

    code = "department_not_found"
    title = "Department not found"


class Conflict(CatalogueError):
    """The request conflicts with what the catalogue holds; the base of the conflicts."""

    code = "conflict"
    status = 409
    title = "Conflict"


class ConcurrentUpdate(Conflict):
    """Another publication of the same entry committed first; fetch it again and retry."""

    code = "concurrent_update"
    title = "Concurrent update"


class ResourceDeprecated(Conflict):
    """The resource is deprecated and takes no new versions."""

    code = "resource_deprecated"
    title = "Resource is deprecated"


class NamespaceTaken(Conflict):
    """Another resource already uses this attribute namespace."""

    code = "namespace_taken"
    title = "Attribute namespace already in use"


class DataSourceConflict(Conflict):
    """A field claims to be the source of a data element another live resource is the
    designated source of, or names another source than the one designated (一数一源)."""

    code = "data_source_conflict"
    title = "The data item has another designated source"


class InvalidSearch(CatalogueError):
    """A catalogue search the hub will not run: too long, too many terms, or a page out of
    range."""

    code = "invalid_search"
    status = 422
    title = "Invalid search"


class InvalidSystem(CatalogueError):
    """A system registration is not valid: its document, its keys or its department."""

    code = "invalid_system"
    status = 422
    title = "Invalid system registration"
