"""Errors the registry raises. Messages never carry personal data or internals."""

from __future__ import annotations

from schemas import TongbanError


class CatalogueError(TongbanError):
    code = "catalogue_error"
    status = 400
    title = "Catalogue error"


class InvalidDescriptor(CatalogueError):
    """A descriptor broke its schema or a catalogue rule; ``errors`` carry JSON pointers."""

    code = "invalid_descriptor"
    status = 422
    title = "Invalid descriptor"


class NotFound(CatalogueError):
    code = "not_found"
    status = 404
    title = "Not found"


class ResourceNotFound(NotFound):
    code = "resource_not_found"


class ServiceItemNotFound(NotFound):
    code = "service_item_not_found"


class DepartmentNotFound(NotFound):
    code = "department_not_found"


class Conflict(CatalogueError):
    code = "conflict"
    status = 409
    title = "Conflict"


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"
    title = "Concurrent update"


class ResourceDeprecated(Conflict):
    code = "resource_deprecated"
    title = "Resource is deprecated"


class NamespaceTaken(Conflict):
    code = "namespace_taken"
    title = "Attribute namespace already in use"


class InvalidSearch(CatalogueError):
    code = "invalid_search"
    status = 422
    title = "Invalid search"


class InvalidSystem(CatalogueError):
    code = "invalid_system"
    status = 422
    title = "Invalid system registration"
