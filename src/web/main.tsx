/** Entry point of the web client (built by Vite into web-dist/; no inline script anywhere: CSP). */
import { render } from 'preact';
import { App } from './ui/app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
