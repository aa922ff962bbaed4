"""Typed errors. Every message is written for the person who has to act on it.

Shared by every layer (domain, engine, store, app, cli, gui), so it imports none of them.
"""

from __future__ import annotations


class FaceDeskError(Exception):
    """Base of every error a user can cause and fix; the CLI prints its message, no traceback."""

    #: short machine-readable reason, recorded with failed import items
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- images ---------------------------------------------------------------------------


class ImageError(FaceDeskError):
    code = "unreadable"


class ImageNotFound(ImageError):
    code = "missing"


class UnreadableImage(ImageError):
    code = "unreadable"


class UnsupportedImage(ImageError):
    code = "unsupported"


class ImageTooLarge(ImageError):
    code = "too_large"


# --- faces and engine -----------------------------------------------------------------


class NoFaceFound(FaceDeskError):
    code = "no_face"


class FaceChoiceError(FaceDeskError):
    code = "face_choice"


class EngineUnavailable(FaceDeskError):
    code = "engine_unavailable"


class EngineMismatch(FaceDeskError):
    code = "engine_mismatch"


# --- gallery --------------------------------------------------------------------------


class GalleryError(FaceDeskError):
    code = "gallery"


class GalleryNotFound(GalleryError):
    code = "gallery_not_found"


class NotAGallery(GalleryError):
    code = "not_a_gallery"


class GalleryTooNew(GalleryError):
    code = "gallery_too_new"


class GalleryReadOnly(GalleryError):
    """The gallery file cannot be written by this process (its permissions, a read-only
    disk): reading works, changes are refused."""

    code = "gallery_read_only"


class GalleryDamaged(GalleryError):
    """SQLite found the file damaged past its header."""

    code = "gallery_damaged"


class EmptyGallery(GalleryError):
    code = "empty_gallery"


class StorageFull(GalleryError):
    """The disk (or the gallery's size limit) is full: the write was rolled back whole."""

    code = "storage_full"


class ImportRunning(GalleryError):
    """Another import into the same gallery is running (one import at a time)."""

    code = "import_running"


class FileOnly(GalleryError):
    """A feature of gallery files (a backup, a restore, the file's permissions) asked of a
    gallery on a database server: the message says what to use there instead."""

    code = "file_only"


class BackupError(GalleryError):
    """A backup that cannot be made or checked, or a restore refused (the file is not a
    sound backup of this gallery, or the gallery is in use)."""

    code = "backup"


class CopyError(GalleryError):
    """A gallery copy refused (a destination that is not empty, a source that cannot be
    logged in) or one whose copy does not verify against its source."""

    code = "copy"


# --- import sources -------------------------------------------------------------------


class SourceError(FaceDeskError):
    code = "source"


class ManifestError(SourceError):
    code = "manifest"


# --- accuracy lab -----------------------------------------------------------------------


class EvaluationError(FaceDeskError):
    """Labelled data that cannot be evaluated (bad pairs file, too few persons, ...)."""

    code = "evaluation_error"


class QuizError(FaceDeskError):
    """A trainee quiz that cannot be started, answered or read (no such quiz, finished,
    another trainee's, a gallery too small or not for training)."""

    code = "quiz"


# --- accountability --------------------------------------------------------------------


class AccountError(FaceDeskError):
    """Signing in or managing users failed (unknown user, wrong password, ...)."""

    code = "account"


class NotPermitted(FaceDeskError):
    """The signed-in user's role may not do this (or no one is signed in)."""

    code = "not_permitted"


class CaseError(FaceDeskError):
    """No open case, a closed (read-only) case, a duplicate case number, ..."""

    code = "case"


class LeadError(FaceDeskError):
    """A second review or a lead sheet that the rules do not allow."""

    code = "lead"


class FilterError(FaceDeskError):
    """A search filter that cannot be read (--where, --age, --booked)."""

    code = "filter"


# --- video clips ------------------------------------------------------------------------


class ClipError(FaceDeskError):
    """A video clip that cannot be read at all (facedesk.domain.clips)."""

    code = "clip"


class UnreadableClip(ClipError):
    """Empty, damaged beyond reading (no index, no decodable frame), or not readable."""

    code = "unreadable_clip"


class UnsupportedClip(ClipError):
    """A file FFmpeg reads that holds no video: audio only, a still image, a subtitle."""

    code = "unsupported_clip"


class ClipTooLarge(ClipError):
    """Frames larger than the limit (a huge-resolution stream would exhaust memory)."""

    code = "clip_too_large"
