"""The clip window: a video dropped on the main window is read here (facedesk.domain.clips)
in a worker thread, with progress and Cancel; its face tracks are shown as a filmstrip
(each track's best frames with their quality), a scrubber looks at any moment of the
clip, and the chosen track (its best frame, or its fused template) or frame goes to the
probe panel as a `ClipProbe`, whose provenance the search records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from facedesk.app.search import Probe
from facedesk.domain import clips
from facedesk.domain.clips import ClipProbe, ClipProgress, ClipTracks, Track
from facedesk.domain.faces import Face, FaceEngine
from facedesk.domain.progress import CancelToken
from facedesk.domain.quality import warnings as quality_warnings
from facedesk.engine.spec import EngineSpec
from facedesk.gui.images import scaled, to_pixmap
from facedesk.gui.widgets import Dialog, button
from facedesk.gui.workers import GeneratorWorker

THUMB = 112
PREVIEW_SIDE = 640


def filmstrip(name: str) -> QListWidget:
    """A one-row strip of thumbnails with captions."""
    strip = QListWidget()
    strip.setObjectName(name)
    strip.setViewMode(QListWidget.ViewMode.IconMode)
    strip.setFlow(QListWidget.Flow.LeftToRight)
    strip.setWrapping(False)
    strip.setIconSize(QSize(THUMB, THUMB))
    strip.setFixedHeight(THUMB + 70)
    strip.setWordWrap(True)
    return strip


class ClipPanel(Dialog):
    """One clip: reading, tracks, scrubber. Emits `probe_ready(ClipProbe)`."""

    probe_ready = Signal(object)
    #: the reading ended (the final ClipTracks, or None when it failed)
    finished_reading = Signal(object)

    def __init__(self, path: Path, spec: EngineSpec, parent: QWidget | None = None) -> None:
        super().__init__("clipPanel", f"Clip: {path.name}", parent)
        self.path = path
        self.spec = spec
        self.result: ClipTracks | None = None
        self._engine: FaceEngine | None = None
        self._reader: GeneratorWorker | None = None
        self._task: GeneratorWorker | None = None
        self._preview: GeneratorWorker | None = None
        self._preview_time: float | None = None

        layout = QVBoxLayout(self)
        self.status = QLabel(f"Reading {path.name}…")
        self.status.setObjectName("clipStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("clipProgress")
        self.progress.setRange(0, 0)
        self.cancel_button = button("Cancel", "clipCancel", self.cancel)
        self.cancel_button.setToolTip("Stop reading; the tracks found so far are kept")
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

        layout.addWidget(QLabel("Face tracks (best frame first):"))
        self.tracks_list = filmstrip("clipTracks")
        self.tracks_list.currentRowChanged.connect(self._show_track)
        layout.addWidget(self.tracks_list)
        layout.addWidget(QLabel("Its kept frames:"))
        self.frames_list = filmstrip("clipFrames")
        layout.addWidget(self.frames_list)
        use_row = QHBoxLayout()
        self.fuse_box = QCheckBox("Search the fused template of the kept frames")
        self.fuse_box.setObjectName("clipFuse")
        self.fuse_box.setChecked(clips.DEFAULT_FUSE)
        self.fuse_box.setToolTip("The mean of the kept frames' normalised encodings; "
                                 "unchecked: the frame selected above")
        self.use_track_button = button("Use track as probe", "clipUseTrack", self.use_track)
        self.use_track_button.setEnabled(False)
        use_row.addWidget(self.fuse_box, 1)
        use_row.addWidget(self.use_track_button)
        layout.addLayout(use_row)

        layout.addWidget(QLabel("Any moment of the clip:"))
        self.preview = QLabel()
        self.preview.setObjectName("clipPreview")
        self.preview.setMinimumSize(320, 180)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.preview, 1)
        scrub = QHBoxLayout()
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setObjectName("clipScrubber")
        self.scrubber.setEnabled(False)
        self.scrubber.valueChanged.connect(self._scrubbed)
        self.time_label = QLabel(clips.timecode(0))
        self.use_frame_button = button("Use this frame as probe", "clipUseFrame", self.use_frame)
        self.use_frame_button.setEnabled(False)
        scrub.addWidget(self.scrubber, 1)
        scrub.addWidget(self.time_label)
        scrub.addWidget(self.use_frame_button)
        layout.addLayout(scrub)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._load_preview)
        self.resize(820, 760)

    # -- the engine lives in whichever worker thread uses it, one at a time ---------------------

    def _engine_now(self) -> FaceEngine:
        if self._engine is None:
            self._engine = self.spec.create()
        return self._engine

    # -- reading ---------------------------------------------------------------------------------

    def start(self) -> None:
        path = self.path

        def events(cancel: CancelToken) -> Iterator[ClipProgress]:
            yield from clips.track_clip(self._engine_now(), path, cancel=cancel)

        self._reader = GeneratorWorker(events, self)
        self._reader.progress.connect(self._on_progress)
        self._reader.failed.connect(self._on_failed)
        self._reader.done.connect(self._on_done)
        self._reader.start()

    @property
    def reading(self) -> bool:
        return self._reader is not None and self._reader.isRunning()

    def cancel(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Stopping… (the tracks found so far are kept)")

    def _on_progress(self, ev: ClipProgress) -> None:
        if ev.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(ev.fraction * 1000))
        speed = ev.time_s / ev.elapsed_s if ev.elapsed_s > 0 else 0.0
        if ev.phase == "reading":
            self.status.setText(f"Reading {self.path.name}: {clips.timecode(ev.time_s)}, "
                                f"{ev.frames_read} frames, {ev.tracks} face tracks "
                                f"({speed:.1f}x real time)")

    def _on_failed(self, message: str) -> None:
        self._reading_over()
        self.status.setText(message)
        self.finished_reading.emit(None)

    def _on_done(self, last: ClipProgress | None) -> None:
        self._reading_over()
        if last is None or last.result is None:
            self.finished_reading.emit(None)
            return
        self.result = last.result
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        tail = " Cancelled: what was read is shown." if last.phase == "cancelled" else ""
        self.status.setText(self.result.outcome() + "." + tail)
        self._fill_tracks(self.result.tracks)
        # the whole clip, also when reading was cancelled part of the way
        rep = self.result.report
        seen = max(rep.last_time_s, self.result.info.duration_s or 0.0) if rep.stopped \
            else rep.last_time_s
        duration = max(1, round(seen * 10))
        self.scrubber.setRange(0, duration)
        self.scrubber.setEnabled(True)
        self.use_frame_button.setEnabled(True)
        self._scrubbed(0)
        self.finished_reading.emit(self.result)

    def _reading_over(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1000)

    def _fill_tracks(self, tracks: list[Track]) -> None:
        self.tracks_list.clear()
        for t in tracks:
            best = t.best[0]
            q = best.quality
            item = QListWidgetItem(QIcon(scaled(to_pixmap(best.image), THUMB)),
                                   f"Track {t.id}\n{clips.timecode(t.first_time_s)[3:]}"
                                   f"–{clips.timecode(t.last_time_s)[3:]}\n"
                                   f"{q.size_px} px, score {best.score:.2f}")
            item.setData(Qt.ItemDataRole.UserRole, t.id)
            warn = quality_warnings(q)
            item.setToolTip("\n".join([f"seen in {t.detections} frames analysed", *warn]))
            self.tracks_list.addItem(item)
        if tracks:
            self.tracks_list.setCurrentRow(0)
        else:
            self.status.setText(self.status.text() + " No face was followed: look through "
                                "the clip with the scrubber and use a frame.")

    def _show_track(self, row: int) -> None:
        self.frames_list.clear()
        track = self.selected_track()
        self.use_track_button.setEnabled(track is not None)
        if track is None:
            return
        for f in track.best:
            q = f.quality
            item = QListWidgetItem(QIcon(scaled(to_pixmap(f.image), THUMB)),
                                   f"frame {f.frame}\n{clips.timecode(f.time_s)[3:]}\n"
                                   f"eyes {q.eye_distance_px:.0f} px, sharp {q.sharpness:.0f}")
            item.setData(Qt.ItemDataRole.UserRole, f.frame)
            item.setToolTip("\n".join(quality_warnings(q)) or "no quality warning")
            self.frames_list.addItem(item)
        self.frames_list.setCurrentRow(0)

    def selected_track(self) -> Track | None:
        item = self.tracks_list.currentItem()
        if item is None or self.result is None:
            return None
        return self.result.track(int(item.data(Qt.ItemDataRole.UserRole)))

    # -- probes --------------------------------------------------------------------------------

    def _run_task(self, make: Callable[[FaceEngine], ClipProbe], what: str) -> None:
        if self._task is not None and self._task.isRunning():
            return

        def events(cancel: CancelToken) -> Iterator[ClipProbe]:
            yield make(self._engine_now())

        self.status.setText(what)
        self.use_track_button.setEnabled(False)
        self.use_frame_button.setEnabled(False)
        self._task = GeneratorWorker(events, self)
        self._task.failed.connect(self._on_task_failed)
        self._task.done.connect(self._on_probe)
        self._task.start()

    def _on_task_failed(self, message: str) -> None:
        self.status.setText(message)
        self.use_track_button.setEnabled(self.selected_track() is not None)
        self.use_frame_button.setEnabled(True)

    def _on_probe(self, probe: ClipProbe | None) -> None:
        self.use_track_button.setEnabled(self.selected_track() is not None)
        self.use_frame_button.setEnabled(True)
        if probe is not None:
            prov = probe.provenance
            what = (f"the fused template of track {prov['track']}" if prov["fused"] else
                    f"frame {prov['frames'][0]['frame']} at {prov['frames'][0]['timecode']}")
            self.status.setText(f"In the probe panel: {what}.")
            self.probe_ready.emit(probe)

    def use_track(self) -> None:
        track, result = self.selected_track(), self.result
        if track is None or result is None:
            return
        fuse = self.fuse_box.isChecked()
        item = self.frames_list.currentItem()
        frame = None if fuse or item is None else int(item.data(Qt.ItemDataRole.UserRole))
        self._run_task(lambda eng: clips.track_probe(eng, result, track.id, frame=frame,
                                                     fuse=fuse),
                       f"Describing track {track.id}…")

    def use_frame(self) -> None:
        at = self.scrubber.value() / 10
        self._run_task(lambda eng: clips.frame_probe(eng, self.path, at_s=at),
                       f"Reading the frame at {clips.timecode(at)}…")

    # -- the scrubber ---------------------------------------------------------------------------

    def _scrubbed(self, value: int) -> None:
        self.time_label.setText(clips.timecode(value / 10))
        self._debounce.start()

    def _load_preview(self) -> None:
        if self._preview is not None and self._preview.isRunning():
            self._debounce.start()
            return
        at = self.scrubber.value() / 10
        path = self.path

        def events(cancel: CancelToken) -> Iterator[tuple[float, Any]]:
            yield clips.preview_frame(path, at, PREVIEW_SIDE)

        self._preview = GeneratorWorker(events, self)
        self._preview.done.connect(self._on_preview)
        self._preview.failed.connect(lambda m: self.preview.setText(m))
        self._preview.start()

    def _on_preview(self, shown: tuple[float, np.ndarray] | None) -> None:
        if shown is None:
            return
        t, rgb = shown
        self._preview_time = t
        self.preview.setPixmap(scaled(to_pixmap(rgb), PREVIEW_SIDE))
        self.preview.setToolTip(f"about {clips.timecode(t)} (a quick look; the frame used "
                                "is read exactly, from the start)")

    def shutdown(self) -> None:
        """Stop the workers and wait for them (closing the window or the application)."""
        for w in (self._reader, self._task, self._preview):
            if w is not None:
                w.cancel()
                w.wait(30_000)

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)


def probe_of(cp: ClipProbe, clip: Path) -> Probe:
    """The probe panel's probe for a clip probe: the frame's picture, its one face."""
    return Probe.of_clip(cp, clip)


def search_provenance(cp: ClipProbe | None, face: Face) -> dict[str, Any]:
    """`cases.record_search`'s keyword arguments for a search of `face` when the probe
    came from a clip: its provenance and frame PNGs. A face other than the clip probe's
    (a box drawn by hand on the frame) searched the first frame alone, not a template."""
    if cp is None:
        return {}
    prov, pngs = cp.provenance, list(cp.frame_pngs)
    if face is not cp.face:
        prov = {**prov, "fused": False, "fused_frames": 1, "frames": prov["frames"][:1],
                "face": "a box drawn by hand on the frame"}
        pngs = pngs[:1]
    return {"provenance": prov, "frame_pngs": pngs}
