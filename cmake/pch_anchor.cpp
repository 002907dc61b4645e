// Gives the precompiled-header object library a translation unit of its own.
