"""Control surfaces: OSC in and out, OSCQuery discovery, MIDI controllers. Each runs in its own threads
and only writes parameters into the ParamStore, so the render loop never waits on a controller."""
