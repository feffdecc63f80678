// Cytoscape, loaded from the vendored ES module, made CSP-safe: on first use it would append a
// <style> element to <head> (blocked by `style-src 'self'`) unless an element with its stylesheet
// id already exists. The rule it wants (container position: relative) is in app.css (.topo-canvas).

import cytoscape from '../../../dist/vendor/cytoscape.esm.min.js';

const STYLESHEET_ID = '__________cytoscape_stylesheet';

export function createCy(options) {
  if (!document.getElementById(STYLESHEET_ID)) {
    const marker = document.createElement('meta');
    marker.id = STYLESHEET_ID;
    marker.name = 'cytoscape-styles-in-app-css';
    document.head.append(marker);
  }
  return cytoscape(options);
}
