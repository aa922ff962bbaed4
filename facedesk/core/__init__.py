"""FaceDesk core: engine, imaging, import, search. Runs without Qt; only
`facedesk.core.engine` touches dlib."""
